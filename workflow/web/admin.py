"""The system administrator's page: users, their sessions and login locks, the scheduler.

Every act here is audited by the service it calls (who, when, on whom); the
admin cannot disable itself or change its own role (it would lock itself out).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from workflow import clock
from workflow.errors import ExitflowError, ValidationFailed
from workflow.extensions import db
from workflow.models import User
from workflow.models.users import ROLES
from workflow.services import deadlines, logins, users, web_sessions
from workflow.web import bp
from workflow.web.session import idle_timeout, login_required, web_actor

ROLE_LABELS = {
    "village": "村级",
    "township": "乡镇",
    "county": "县级",
    "city": "市级",
    "province": "省级",
    "evaluator": "第三方评估",
    "admin": "系统管理员",
    "auditor": "审计管理员",
}


@bp.get("/admin")
@login_required("admin")
def admin():
    """Users, live sessions, login locks and the scheduler's status."""
    now = clock.now()
    rows = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template(
        "web/admin.html",
        users=rows,
        status=deadlines.status(now),
        sessions=web_sessions.live_sessions(now, idle_timeout()),
        locks=logins.current_locks(now),
        roles=ROLES,
        role_labels=ROLE_LABELS,
        me=web_actor(),
    )


def _done(err: ExitflowError | None, message: str):
    if err is not None:
        db.session.rollback()
        detail = err.detail
        if isinstance(err, ValidationFailed) and err.extra.get("errors"):
            detail += ":" + ";".join(
                f"{field} {'、'.join(msgs)}" for field, msgs in err.extra["errors"].items()
            )
        flash(detail, "error")
    else:
        flash(message)
    return redirect(url_for("web.admin"))


@bp.post("/admin/users/<username>/<action>")
@login_required("admin")
def set_user(username: str, action: str):
    """Disable (every session and token stops at once) or enable a user."""
    if action not in ("disable", "enable"):
        return redirect(url_for("web.admin"))
    try:
        users.set_active(username, action == "enable", web_actor(), clock.now())
    except ExitflowError as err:
        return _done(err, "")
    return _done(None, f"用户 {username} 已{'启用' if action == 'enable' else '停用'}")


@bp.post("/admin/users/<username>/sessions/end")
@login_required("admin")
def end_user_sessions(username: str):
    """Sign a user out everywhere: every web session and API token."""
    try:
        sessions, tokens = users.end_all_by_admin(username, web_actor(), clock.now())
    except ExitflowError as err:
        return _done(err, "")
    return _done(None, f"已结束用户 {username} 的 {sessions} 个会话,吊销 {tokens} 个令牌")


@bp.post("/admin/sessions/<int:session_id>/end")
@login_required("admin")
def end_session(session_id: int):
    """End one web session."""
    try:
        row = web_sessions.end_session_by_admin(session_id, web_actor(), clock.now())
    except ExitflowError as err:
        return _done(err, "")
    return _done(None, f"已结束会话 #{row.id}")


@bp.post("/admin/locks/lift")
@login_required("admin")
def lift_lock():
    """Lift a login lock (of an account, or of an account from one address)."""
    scope = request.form.get("scope", "")
    username = request.form.get("username", "")[:64]
    client = request.form.get("client", "")[:64]
    if scope not in ("pair", "account"):
        return _done(ValidationFailed("锁定类型有误"), "")
    if not logins.lift_lock(scope, username, client, web_actor(), clock.now()):
        flash("该锁定已解除或已到期", "error")
        return redirect(url_for("web.admin"))
    where = f"(来自 {client})" if scope == "pair" else "(全部地址)"
    return _done(None, f"已解除 {username}{where}的登录锁定")


@bp.post("/admin/password")
@login_required("admin")
def reset_password():
    """Set a new password for a user; its sessions and tokens end."""
    username = request.form.get("username", "").strip()
    try:
        users.reset_password(username, request.form.get("password", ""), web_actor(), clock.now())
    except ExitflowError as err:
        return _done(err, "")
    return _done(None, f"用户 {username} 的密码已重置,其会话和令牌均已失效")


@bp.post("/admin/role")
@login_required("admin")
def change_role():
    """Move a user to another role or region; its sessions and tokens end."""
    username = request.form.get("username", "").strip()
    role = request.form.get("role", "")
    region = request.form.get("region_code", "").strip() or None
    try:
        users.change_role(username, role, region, web_actor(), clock.now())
    except ExitflowError as err:
        return _done(err, "")
    return _done(None, f"用户 {username} 的角色和地区已更新,其会话和令牌均已失效")
