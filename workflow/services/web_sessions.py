"""Web sessions on the server: the browser's cookie carries a random id, only its sha256
is stored; a session is alive while not ended, within 8 hours of sign-in and within
the idle timeout of its last request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from workflow.clock import as_utc
from workflow.errors import NotFound
from workflow.extensions import db
from workflow.models import User
from workflow.models.users import WebSession
from workflow.security import apart
from workflow.services import audit
from workflow.services.actors import Actor, from_user

# Absolute lifetime; last_seen_at is written at most once a minute.
SESSION_HOURS = 8
SESSION_TOUCH = timedelta(minutes=1)
SESSION_KEEP = timedelta(days=7)  # ended and expired sessions are purged after this


@dataclass(frozen=True)
class LiveSession:
    """A web session found by its cookie: the row's id and who signed in."""

    id: int
    actor: Actor


def start_session(user: User, now: datetime, client: str = "", user_agent: str = "") -> str:
    """A new web session for the user; returns the secret id the cookie carries."""
    secret = secrets.token_urlsafe(32)
    db.session.add(
        WebSession(
            token_hash=_hash(secret),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
            client=(client or "")[:64],
            user_agent=(user_agent or "")[:200],
        )
    )
    db.session.commit()
    return secret


def find_session(
    secret: str, now: datetime, idle: timedelta, may_touch: bool = True
) -> LiveSession | None:
    """The live session of a cookie's secret and its active user (one indexed query).

    Refreshes `last_seen_at` when it is a minute old or more, in a short transaction
    of its own, when `may_touch` (the caller's open transaction, if any, only read)
    and nothing is pending; otherwise a later request refreshes it.
    """
    found = db.session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _hash(secret))
    ).first()
    if found is None:
        return None
    row, user = found
    seen = as_utc(row.last_seen_at)
    if (
        row.ended_at is not None
        or as_utc(row.expires_at) <= now
        or seen + idle <= now
        or not user.active
    ):
        return None
    live = LiveSession(row.id, from_user(user))
    if now - seen >= SESSION_TOUCH and may_touch and not (db.session.new or db.session.dirty):
        with apart():
            db.session.execute(
                update(WebSession)
                .where(WebSession.id == row.id, WebSession.last_seen_at < now - SESSION_TOUCH)
                .values(last_seen_at=now)
            )
    return live


def end_session(secret: str, now: datetime, reason: str = "logout") -> WebSession | None:
    """End the session of a cookie's secret (logout); the row, if it was live."""
    row = db.session.scalar(select(WebSession).where(WebSession.token_hash == _hash(secret)))
    if row is None or row.ended_at is not None:
        return None
    row.ended_at, row.end_reason = now, reason
    if reason == "logout":
        user = db.session.get(User, row.user_id)
        audit.record_event(
            "logout",
            user,
            now,
            {"session_id": row.id},
            kind="auth",
            region_path=user.region_path if user else None,
        )
    db.session.commit()
    return row


def end_sessions(user_id: int, now: datetime, reason: str, keep: int | None = None) -> int:
    """End every live session of a user (but `keep`); the number ended. No commit."""
    query = update(WebSession).where(
        WebSession.user_id == user_id, WebSession.ended_at.is_(None), WebSession.expires_at > now
    )
    if keep is not None:
        query = query.where(WebSession.id != keep)
    result = db.session.execute(
        query.values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def end_session_by_admin(session_id: int, actor, now: datetime) -> WebSession:
    """The admin ends one session (audited as `session_ended`)."""
    row = db.session.get(WebSession, session_id)
    if row is None or row.ended_at is not None:
        raise NotFound("会话不存在或已结束")
    user = db.session.get(User, row.user_id)
    row.ended_at, row.end_reason = now, "admin"
    audit.record_event(
        "session_ended",
        actor,
        now,
        {"username": user.username, "session_id": row.id, "client": row.client},
        region_path=user.region_path,
    )
    db.session.commit()
    return row


def live_sessions(now: datetime, idle: timedelta) -> list[tuple[WebSession, str]]:
    """Every live web session with its username, by user and newest first."""
    return [
        (row, username)
        for row, username in db.session.execute(
            select(WebSession, User.username)
            .join(User, User.id == WebSession.user_id)
            .where(
                WebSession.ended_at.is_(None),
                WebSession.expires_at > now,
                WebSession.last_seen_at > now - idle,
                User.active.is_(True),
            )
            .order_by(User.username, WebSession.created_at.desc())
        )
    ]


def purge(now: datetime) -> int:
    """Delete the sessions a week past their end (no commit); how many."""
    return (
        db.session.execute(
            delete(WebSession).where(WebSession.expires_at < now - SESSION_KEEP)
        ).rowcount
        or 0
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
