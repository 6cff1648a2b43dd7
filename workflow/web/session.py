"""Web sign-in: the session cookie, its expiry, and the CSRF token every form carries."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import wraps

from flask import abort, redirect, request, session, url_for

from workflow import clock
from workflow.extensions import db
from workflow.models import User
from workflow.services.actors import Actor, from_user

SESSION_HOURS = 8


def web_actor() -> Actor | None:
    """The signed-in user of this request, or None (expired, disabled, or not signed in)."""
    # Cached on the request, not `g` (which outlives requests inside a test's app context).
    if "exitflow.web_actor" in request.environ:
        return request.environ["exitflow.web_actor"]
    actor = None
    user_id, until = session.get("user_id"), session.get("until", 0)
    if user_id and until > clock.now().timestamp():
        user = db.session.get(User, user_id)
        if user is not None and user.active:
            actor = from_user(user)
    request.environ["exitflow.web_actor"] = actor
    return actor


def sign_in(user: User) -> None:
    """Start a fresh session for the user (a new CSRF token too)."""
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["until"] = (clock.now() + timedelta(hours=SESSION_HOURS)).timestamp()
    session["csrf"] = secrets.token_urlsafe(24)


def sign_out() -> None:
    """End the session."""
    session.clear()


def csrf_token() -> str:
    """The token forms carry (made for anonymous visitors too)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse a POST whose form token is not this session's."""
    sent = request.form.get("csrf_token", "")
    if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
        abort(400, description="表单已过期,请刷新页面后重试 (CSRF token missing or wrong)")


def login_required(*roles: str):
    """Pages for signed-in users (of these roles); others go to the login page or get 403."""

    def wrap(fn):
        @wraps(fn)
        def inner(*args, **kwargs):
            actor = web_actor()
            if actor is None:
                return redirect(url_for("web.login", next=request.path))
            if roles and actor.role not in roles:
                abort(403)
            if request.method == "POST":
                check_csrf()
            return fn(*args, **kwargs)

        return inner

    return wrap
