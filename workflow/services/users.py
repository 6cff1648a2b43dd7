"""Users: creating and administering them (role, region, password, disabling), API tokens.

Every administrative act on a user is appended to the audit chain of the user's
region (`workflow.services.audit.record_event`), never with a password or a
token in it. Disabling a user, a new password and a new role or region end its
web sessions (`web_sessions`) and revoke its API tokens at once. Signing in
with a password is `logins` (re-exported here: `users.authenticate`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from workflow import clock
from workflow.clock import as_utc
from workflow.errors import Conflict, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import ApiToken, Region, User
from workflow.models.users import ROLES, RateCounter
from workflow.services import audit, logins, web_sessions
from workflow.services.actors import SYSTEM
from workflow.services.logins import authenticate  # noqa: F401 - the one sign-in check

logger = logging.getLogger(__name__)

# The level of region each role acts within (DOMAIN.md "Who uses it").
ROLE_LEVELS = {
    "village": "village",
    "township": "township",
    "county": "county",
    "city": "city",
    "province": "province",
}
UNSCOPED = ("admin", "auditor")  # roles that belong to no region
# scrypt (werkzeug's default) in production; tests set a cheap method in config.
HASH_METHOD = {"method": "scrypt"}


def configure(method: str) -> None:
    """The password hash method (EXITFLOW_PASSWORD_HASH)."""
    HASH_METHOD["method"] = method


def password_problem(password: str) -> str | None:
    """Why a password is too weak: at least 10 characters of 3 classes."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^\w]"))
    if len(password) < 10 or classes < 3:
        return "密码至少10位,且包含大写字母、小写字母、数字、符号中的至少三类"
    return None


def _role_region(role: str, region_code: str | None, errors: dict) -> Region | None:
    """The region of a role (None for admin and auditor); problems go into `errors`."""
    if role not in ROLES:
        errors["role"] = [f"unknown role; one of {', '.join(ROLES)}"]
    region = db.session.get(Region, region_code) if region_code else None
    if role not in UNSCOPED:
        if region is None:
            errors["region_code"] = ["required and must exist for this role"]
        elif role in ROLE_LEVELS and region.level != ROLE_LEVELS[role]:
            errors["region_code"] = [f"a {role} user belongs to a {ROLE_LEVELS[role]}"]
    return region if role not in UNSCOPED else None


def create(
    username: str,
    password: str,
    role: str,
    region_code: str | None,
    display_name: str | None,
    now: datetime,
    commit: bool = True,
    actor=None,
) -> User:
    """A new user; the region must fit the role (an evaluator may sit at any level).

    Audited as `user_created` when an `actor` creates it (the admin through the API,
    or SYSTEM from the command line); bulk seeding (the demo) passes none.
    """
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[A-Za-z0-9_.-]{2,64}", username or ""):
        errors["username"] = ["2-64 letters, digits, _ . -"]
    problem = password_problem(password or "")
    if problem:
        errors["password"] = [problem]
    region = _role_region(role, region_code, errors)
    if errors:
        raise ValidationFailed("用户信息有误", errors)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名 {username} 已存在")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=generate_password_hash(password, method=HASH_METHOD["method"]),
        role=role,
        region_code=region.code if region else None,
        region_path=region.path if region else "/",
        active=True,
        created_at=now,
    )
    db.session.add(user)
    if actor is not None:
        audit.record_event(
            "user_created",
            actor,
            now,
            {"username": username, "role": role, "region_code": user.region_code},
            region_path=user.region_path,
        )
    if commit:
        db.session.commit()
    logger.info("user %s created (%s)", username, role)
    return user


def _get(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    return user


# -- administering users --------------------------------------------------------------------


def _end_everything(user: User, now: datetime, reason: str, keep_session: int | None = None):
    """End the user's web sessions and revoke its API tokens; (sessions, tokens) counted."""
    sessions = web_sessions.end_sessions(user.id, now, reason, keep=keep_session)
    tokens = 0
    for token in db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    ):
        token.revoked = True
        tokens += 1
    return sessions, tokens


def set_active(username: str, active: bool, actor=None, now: datetime | None = None) -> User:
    """Disable (at once: every session and token stops working) or enable a user."""
    now = now or clock.now()
    user = _get(username)
    if not active and actor is not None and actor.id == user.id:
        raise Conflict("不能停用自己的账户")
    if user.active == active:
        db.session.commit()  # nothing to change; the caller's pending work is kept as promised
        return user
    user.active = active
    data: dict = {"username": username}
    if not active:
        data["sessions_ended"], data["tokens_revoked"] = _end_everything(user, now, "disabled")
    else:
        user.failed_logins, user.locked_until = 0, None
    audit.record_event(
        "user_enabled" if active else "user_disabled",
        actor or SYSTEM,
        now,
        data,
        region_path=user.region_path,
    )
    db.session.commit()
    logger.info("user %s %s", username, "enabled" if active else "disabled")
    return user


def change_role(username: str, role: str, region_code: str | None, actor, now: datetime) -> User:
    """Move a user to another role or region: its sessions and tokens end (audited)."""
    user = _get(username)
    if actor is not None and actor.id == user.id:
        raise Conflict("不能修改自己的角色或地区")
    errors: dict[str, list[str]] = {}
    region = _role_region(role, region_code or None, errors)
    if errors:
        raise ValidationFailed("角色或地区有误", errors)
    new_code = region.code if region else None
    if (user.role, user.region_code) == (role, new_code):
        return user
    before = {"role": user.role, "region_code": user.region_code}
    user.role, user.region_code = role, new_code
    user.region_path = region.path if region else "/"
    sessions, tokens = _end_everything(user, now, "role")
    audit.record_event(
        "role_changed",
        actor or SYSTEM,
        now,
        {
            "username": username,
            "from": before,
            "to": {"role": role, "region_code": new_code},
            "sessions_ended": sessions,
            "tokens_revoked": tokens,
        },
        region_path=user.region_path,
    )
    db.session.commit()
    logger.info("user %s now %s in %s", username, role, new_code)
    return user


def reset_password(username: str, password: str, actor, now: datetime) -> User:
    """The admin sets a new password: every session and token of the user ends (audited)."""
    user = _get(username)
    problem = password_problem(password or "")
    if problem:
        raise ValidationFailed(problem, {"password": [problem]})
    user.password_hash = generate_password_hash(password, method=HASH_METHOD["method"])
    sessions, tokens = _end_everything(user, now, "password")
    audit.record_event(
        "password_reset",
        actor or SYSTEM,
        now,
        {"username": username, "sessions_ended": sessions, "tokens_revoked": tokens},
        region_path=user.region_path,
    )
    db.session.commit()
    return user


def change_password(
    user_id: int, old: str, new: str, now: datetime, keep_session: int | None = None
) -> User:
    """A user changes its own password: its other sessions and its tokens end (audited)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound("用户不存在")
    if not check_password_hash(user.password_hash, old or ""):
        raise ValidationFailed("原密码错误", {"old_password": ["原密码错误"]})
    problem = password_problem(new or "")
    if problem or new == old:
        message = problem or "新密码不能与原密码相同"
        raise ValidationFailed(message, {"password": [message]})
    user.password_hash = generate_password_hash(new, method=HASH_METHOD["method"])
    sessions, tokens = _end_everything(user, now, "password", keep_session=keep_session)
    audit.record_event(
        "password_changed",
        user,
        now,
        {"username": user.username, "sessions_ended": sessions, "tokens_revoked": tokens},
        region_path=user.region_path,
    )
    db.session.commit()
    return user


def end_all_by_admin(username: str, actor, now: datetime) -> tuple[int, int]:
    """The admin signs a user out everywhere: every session and token (audited)."""
    user = _get(username)
    sessions, tokens = _end_everything(user, now, "admin")
    audit.record_event(
        "session_ended",
        actor,
        now,
        {"username": username, "all": True, "sessions_ended": sessions, "tokens_revoked": tokens},
        region_path=user.region_path,
    )
    db.session.commit()
    return sessions, tokens


# -- API tokens ------------------------------------------------------------------------------


def revoke_token(token: str, actor=None, now: datetime | None = None) -> bool:
    """Revoke one bearer token (logout); audited as `token_revoked`."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None or row.revoked:
        return False
    row.revoked = True
    user = db.session.get(User, row.user_id)
    audit.record_event(
        "token_revoked",
        actor or user,
        now or clock.now(),
        {"token_id": row.id, "username": user.username if user else None},
        kind="auth",
        region_path=user.region_path if user else None,
    )
    db.session.commit()
    return True


def issue_token(user: User, now: datetime, hours: int) -> tuple[str, datetime]:
    """A new bearer token and its expiry; only the hash is stored."""
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    db.session.add(
        ApiToken(
            token_hash=_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=expires,
            revoked=False,
        )
    )
    db.session.commit()
    return token, expires


def user_for_token(token: str, now: datetime) -> User | None:
    """The active user a live token belongs to."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None or row.revoked or as_utc(row.expires_at) <= now:
        return None
    user = db.session.get(User, row.user_id)
    return user if user and user.active else None


def purge(now: datetime) -> dict:
    """Delete sessions a week past their end, lapsed locks and spent counters (scheduler)."""
    sessions = web_sessions.purge(now)
    locks = logins.purge(now)
    spent = db.session.execute(
        delete(RateCounter).where(RateCounter.expires_at < int(now.timestamp()))
    ).rowcount
    db.session.commit()
    return {"sessions": sessions, "locks": locks, "counters": spent or 0}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
