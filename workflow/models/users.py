"""Users, their API tokens and web sessions, login locks, rate counters, and remembered
answers to idempotent requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import JSONType, UTCDateTime, db

# 三员分立: `admin` manages users and regions; `auditor` reads the audit record.
ROLES = ("village", "township", "county", "city", "province", "evaluator", "admin", "auditor")


class User(db.Model):
    """A named person who signs the steps they take."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    region_path: Mapped[str] = mapped_column(String(120), default="/")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the system disabled the account (e.g. 疑似身份证号探测), shown to the admin.
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(db.Model):
    """A bearer token; only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class IdempotencyRecord(db.Model):
    """The first answer to a request sent with an Idempotency-Key, returned to its retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSession(db.Model):
    """A signed-in browser: the cookie carries a random id, only its sha256 is stored.

    Alive while not ended, before `expires_at` (8 hours after sign-in) and within
    EXITFLOW_SESSION_IDLE_MINUTES of `last_seen_at` (which is refreshed at most once a
    minute). Ended at logout, when the user is disabled, changes password, role or
    region, or when the admin ends it.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # logout, replaced, disabled, password, role, admin
    end_reason: Mapped[str | None] = mapped_column(String(20))
    client: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class LoginLock(db.Model):
    """A login lock: of one account from one client address (`pair`), or of the account.

    `username` is the name as typed (locks apply to unknown names too, so a lock
    tells nothing about which accounts exist); `client` is "" for an account lock.
    """

    __tablename__ = "login_locks"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # pair | account
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class RateCounter(db.Model):
    """One window of a rate or failure counter, when Redis is not configured (or is down)."""

    __tablename__ = "rate_counters"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Epoch seconds of the window's start (a multiple of the window's length).
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    # Epoch seconds after which the row is useless (purged by the scheduler).
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
