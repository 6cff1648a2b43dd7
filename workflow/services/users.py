"""Users, password checks and API tokens."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from workflow.clock import as_utc
from workflow.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from workflow.extensions import db
from workflow.models import ApiToken, Region, User
from workflow.models.users import ROLES

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
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
# scrypt (werkzeug's default) in production; tests set a cheap method in config.
HASH_METHOD = {"method": "scrypt"}
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def configure(method: str) -> None:
    """The password hash method (EXITFLOW_PASSWORD_HASH)."""
    HASH_METHOD["method"] = method


def password_problem(password: str) -> str | None:
    """Why a password is too weak: at least 10 characters of 3 classes."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^\w]"))
    if len(password) < 10 or classes < 3:
        return "密码至少10位,且包含大写字母、小写字母、数字、符号中的至少三类"
    return None


def create(
    username: str,
    password: str,
    role: str,
    region_code: str | None,
    display_name: str | None,
    now: datetime,
    commit: bool = True,
) -> User:
    """A new user; the region must fit the role (an evaluator may sit at any level)."""
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [f"unknown role; one of {', '.join(ROLES)}"]
    if not re.fullmatch(r"[A-Za-z0-9_.-]{2,64}", username or ""):
        errors["username"] = ["2-64 letters, digits, _ . -"]
    problem = password_problem(password or "")
    if problem:
        errors["password"] = [problem]
    region = db.session.get(Region, region_code) if region_code else None
    if role not in UNSCOPED:
        if region is None:
            errors["region_code"] = ["required and must exist for this role"]
        elif role in ROLE_LEVELS and region.level != ROLE_LEVELS[role]:
            errors["region_code"] = [f"a {role} user belongs to a {ROLE_LEVELS[role]}"]
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
    if commit:
        db.session.commit()
    logger.info("user %s created (%s)", username, role)
    return user


def authenticate(username: str, password: str, now: datetime) -> User:
    """The user for a username and password, or one Unauthenticated that says nothing more."""
    user = db.session.scalar(select(User).where(User.username == username))
    # Check a hash even for unknown names, so timing does not reveal which exist.
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    if user is not None:
        locked = user.locked_until is not None and as_utc(user.locked_until) > now
        if ok and not locked and user.active:
            if user.failed_logins:
                user.failed_logins, user.locked_until = 0, None
                db.session.commit()
            return user
        if not ok and not locked:
            # 5 failures lock the account for 15 minutes (等保2.0 登录失败处理).
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until, user.failed_logins = now + LOCKOUT, 0
                logger.warning(
                    "account %s locked for %s after %d failed logins",
                    username,
                    LOCKOUT,
                    MAX_FAILURES,
                )
            db.session.commit()
        elif locked:
            logger.warning("login refused: account %s is locked", username)
    # The same answer whatever failed: no telling which accounts exist or are locked.
    raise Unauthenticated("用户名或密码错误,或账户已被暂时锁定 (invalid credentials)")


def revoke_token(token: str) -> bool:
    """Revoke one bearer token (logout)."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None or row.revoked:
        return False
    row.revoked = True
    db.session.commit()
    return True


def set_active(username: str, active: bool) -> User:
    """Disable (at once: every token stops working) or enable a user."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    user.active = active
    if not active:
        for token in db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
        ):
            token.revoked = True
    else:
        user.failed_logins, user.locked_until = 0, None
    db.session.commit()
    logger.info("user %s %s", username, "enabled" if active else "disabled")
    return user


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


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
