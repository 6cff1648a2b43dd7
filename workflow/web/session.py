"""Web sign-in: a server-side session per browser, and the CSRF token every form carries.

The signed session cookie carries only the session's random id (`sid`, whose
sha256 is the `web_sessions` row's key) and the CSRF token; whether the session
is alive is decided on the server at every request: it ends at logout, 8 hours
after sign-in, after EXITFLOW_SESSION_IDLE_MINUTES without a request, and when
the user is disabled, changes password, role or region, or the admin ends it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import wraps

from flask import abort, current_app, redirect, request, session, url_for

from workflow import clock
from workflow.extensions import db
from workflow.models import User
from workflow.security import client_address
from workflow.services import web_sessions
from workflow.services.actors import Actor

SESSION_HOURS = web_sessions.SESSION_HOURS


def idle_timeout() -> timedelta:
    """How long a session lives without a request (EXITFLOW_SESSION_IDLE_MINUTES)."""
    return timedelta(minutes=int(current_app.config.get("EXITFLOW_SESSION_IDLE_MINUTES") or 30))


def _current():
    # Cached on the request, not `g` (which outlives requests inside a test's app context).
    if "exitflow.web_session" in request.environ:
        return request.environ["exitflow.web_session"]
    sid = session.get("sid")
    live = None
    if isinstance(sid, str) and sid:
        # Refreshing last_seen_at commits the session's open transaction first: fine
        # for a request that only reads, or before a writing one has begun.
        may_touch = request.method in ("GET", "HEAD") or not db.session().in_transaction()
        live = web_sessions.find_session(sid, clock.now(), idle_timeout(), may_touch)
    request.environ["exitflow.web_session"] = live
    return live


def web_actor() -> Actor | None:
    """The signed-in user of this request, or None (ended, expired, disabled, or signed out)."""
    live = _current()
    return live.actor if live is not None else None


def current_session_id() -> int | None:
    """The `web_sessions` row of this request's live session."""
    live = _current()
    return live.id if live is not None else None


def sign_in(user: User) -> None:
    """Start a fresh session for the user (a new id and a new CSRF token); ends the old one."""
    now = clock.now()
    old = session.get("sid")
    if isinstance(old, str) and old:
        web_sessions.end_session(old, now, reason="replaced")
    secret = web_sessions.start_session(
        user, now, client_address(), request.headers.get("User-Agent", "")
    )
    session.clear()
    session.permanent = True
    session["sid"] = secret
    session["csrf"] = secrets.token_urlsafe(24)
    request.environ.pop("exitflow.web_session", None)


def sign_out() -> None:
    """End the session, on the server and in the cookie."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        web_sessions.end_session(sid, clock.now(), reason="logout")
    session.clear()
    request.environ.pop("exitflow.web_session", None)


def csrf_token() -> str:
    """The token forms carry (made for anonymous visitors too)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse a POST whose form token is not this session's."""
    sent = request.form.get("csrf_token", "")
    if not sent or not secrets.compare_digest(sent.encode(), session.get("csrf", "").encode()):
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
