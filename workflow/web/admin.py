"""The system administrator's page: users (disable at once) and the scheduler's health."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select

from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db
from workflow.models import User
from workflow.services import deadlines, users
from workflow.web import bp
from workflow.web.session import login_required


@bp.get("/admin")
@login_required("admin")
def admin():
    """Users and the scheduler's status (last runs, next window, overdue, holiday data)."""
    rows = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("web/admin.html", users=rows, status=deadlines.status(clock.now()))


@bp.post("/admin/users/<username>/<action>")
@login_required("admin")
def set_user(username: str, action: str):
    """Disable (every session and token stops at once) or enable a user."""
    if action not in ("disable", "enable"):
        return redirect(url_for("web.admin"))
    try:
        users.set_active(username, action == "enable")
    except ExitflowError as err:
        db.session.rollback()
        flash(err.detail, "error")
    else:
        flash(f"用户 {username} 已{'启用' if action == 'enable' else '停用'}")
    return redirect(url_for("web.admin"))
