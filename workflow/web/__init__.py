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

    @app.after_request
    def private_when_signed_in(response):
        """What a signed-in user is sent (a page, a case's PDF, JSON) is theirs alone: no
        cache, shared or their browser's, may keep it. A response its view marks public
        (an open window's notice, the same for everyone) keeps its header.

        Signed in: a bearer token was sent, the API authenticated the caller, or the
        session cookie names a session (even one that has just ended: no database
        look-up here); the login page and the token endpoint hand out credentials."""
        from flask import request, session

        if request.endpoint == "static" or response.cache_control.public:
            return response
        if (
            "Authorization" in request.headers
            or request.environ.get("exitflow.actor") is not None
            or request.endpoint in ("api.issue_token", "web.login", "web.logout")
            or session.get("sid")
            or session.get("user_id")
        ):
            response.headers["Cache-Control"] = "private, no-store"
        return response
