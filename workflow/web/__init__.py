"""HTML pages for village committees, township reviewers, county leaders and the public."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

bp = Blueprint("web", __name__)


def register_web(app: Flask) -> None:
    """Attach the pages, their helpers and their error pages."""
    from workflow.web import (  # noqa: F401 - routes register on bp
        admin,
        cases,
        dashboard,
        desk,
        public,
        windows,
        work,
    )
    from workflow.web.session import csrf_token, web_actor

    app.register_blueprint(bp)
    app.jinja_env.globals.update(csrf_token=csrf_token, web_actor=web_actor)
    from states.calendar import SHANGHAI

    app.jinja_env.filters["local"] = lambda t: t.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    app.jinja_env.filters["local_day"] = lambda t: t.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    app.jinja_env.filters["reject_page"] = lambda args: {
        k: v for k, v in args.items() if k != "page"
    }
    from datetime import timedelta

    app.permanent_session_lifetime = timedelta(hours=8)

    messages = {400: "请求有误。", 403: "您无权访问此页面。", 404: "页面不存在。"}

    def page_error(err):
        from flask import request

        from workflow.errors import problem

        if request.path.startswith("/api/"):
            return problem(err.code, err.name, err.description or err.name)
        message = err.description if err.code == 400 else messages[err.code]
        return render_template("web/error.html", message=message), err.code

    for code in messages:
        app.register_error_handler(code, page_error)
