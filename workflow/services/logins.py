"""Signing in with a password: the checks, the failure counters and the login locks.

Login failures are counted in the deployment's counter store (Redis or the
database, `workflow.security.counters`), shared by every worker:

* 5 failures of one account from one client address within 15 minutes lock
  that pair for 15 minutes (等保2.0 登录失败处理): the owner, from another
  address, can still sign in, so nobody keeps an account locked by failing on
  purpose from one place;
* 30 failures of one account within an hour, from any addresses, lock the
  account for 15 minutes. One address alone cannot get there (its pair lock
  lets it fail at most 20 times an hour), so it takes a spread-out attack.

A locked attempt gets the same answer as a wrong password and is not counted.
Every attempt is audited (`login`, `login_failed`, `lockout`; `lock_lifted`
when the admin lifts one), never with the password in it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from workflow.clock import as_utc
from workflow.errors import Unauthenticated
from workflow.extensions import db
from workflow.models import User
from workflow.models.users import LoginLock
from workflow.security import counters, upsert_insert
from workflow.services import audit
from workflow.services.actors import SYSTEM

logger = logging.getLogger(__name__)

# One account from one client address.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
# One account from any client addresses.
ACCOUNT_MAX_FAILURES = 30
ACCOUNT_FAILURE_WINDOW = timedelta(hours=1)
ACCOUNT_LOCKOUT = timedelta(minutes=15)
INVALID_CREDENTIALS = "用户名或密码错误,或账户已被暂时锁定 (invalid credentials)"
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def _pair_bucket(username: str, client: str) -> str:
    return f"fail:pair:{username}\x1f{client}"


def _account_bucket(username: str) -> str:
    return f"fail:account:{username}"


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def locked(username: str, client: str, now: datetime) -> str | None:
    """The lock that refuses this name from this address now: "pair", "account" or None."""
    scope = db.session.scalar(
        select(LoginLock.scope)
        .where(
            LoginLock.username == username[:64],
            LoginLock.locked_until > now,
            or_(
                and_(LoginLock.scope == "pair", LoginLock.client == client[:64]),
                LoginLock.scope == "account",
            ),
        )
        .order_by(LoginLock.scope)
        .limit(1)
    )
    return scope


def authenticate(
    username: str, password: str, now: datetime, client: str = "", via: str = "api"
) -> User:
    """The user for a username and password, or one Unauthenticated that says nothing more.

    `client` is the caller's address (locks are per account and address first),
    `via` the path ("web" or "api") for the audit record.
    """
    typed, client = (username or "")[:64], (client or "")[:64]
    lock = locked(typed, client, now)
    user = db.session.scalar(select(User).where(User.username == (username or "")))
    # Check a hash even for unknown names, so timing does not reveal which exist.
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    region_path = user.region_path if user is not None else None
    if user is not None and ok and lock is None and user.active:
        counters().clear(_pair_bucket(typed, client), _seconds(FAILURE_WINDOW), now.timestamp())
        audit.record_event(
            "login", user, now, {"via": via, "client": client}, kind="auth", region_path=region_path
        )
        db.session.commit()
        return user
    if lock:
        reason = f"locked_{lock}"
        logger.warning("login refused: %s is locked (%s, from %s)", typed, lock, client)
    elif user is None:
        reason = "unknown_user"
    elif not ok:
        reason = "wrong_password"
    else:
        reason = "disabled"
    if lock is None and not ok:
        _count_failure(typed, client, now, region_path)
    audit.record_event(
        "login_failed",
        None,
        now,
        {"username": typed, "client": client, "via": via, "reason": reason},
        kind="auth",
        region_path=region_path,
    )
    db.session.commit()
    # The same answer whatever failed: no telling which accounts exist or are locked.
    raise Unauthenticated(INVALID_CREDENTIALS)


def _count_failure(typed: str, client: str, now: datetime, region_path: str | None) -> None:
    store, ts = counters(), now.timestamp()
    pair = store.hit(_pair_bucket(typed, client), _seconds(FAILURE_WINDOW), ts)
    account = store.hit(_account_bucket(typed), _seconds(ACCOUNT_FAILURE_WINDOW), ts)
    if pair.estimate >= MAX_FAILURES:
        store.clear(_pair_bucket(typed, client), _seconds(FAILURE_WINDOW), ts)
        _lock("pair", typed, client, now, LOCKOUT, round(pair.estimate), region_path)
    if account.estimate >= ACCOUNT_MAX_FAILURES:
        store.clear(_account_bucket(typed), _seconds(ACCOUNT_FAILURE_WINDOW), ts)
        _lock("account", typed, "", now, ACCOUNT_LOCKOUT, round(account.estimate), region_path)


def _lock(
    scope: str,
    typed: str,
    client: str,
    now: datetime,
    duration: timedelta,
    failures: int,
    region_path: str | None,
) -> None:
    until = now + duration
    insert = upsert_insert()
    db.session.execute(
        insert(LoginLock)
        .values(
            scope=scope,
            username=typed,
            client=client,
            locked_at=now,
            locked_until=until,
            failures=failures,
        )
        .on_conflict_do_update(
            index_elements=["scope", "username", "client"],
            set_={"locked_at": now, "locked_until": until, "failures": failures},
        )
    )
    audit.record_event(
        "lockout",
        SYSTEM,
        now,
        {
            "scope": scope,
            "username": typed,
            "client": client,
            "failures": failures,
            "until": until.isoformat(),
        },
        kind="auth",
        region_path=region_path,
    )
    if scope == "pair":
        logger.warning(
            "account %s locked for %s after %d failed logins from %s",
            typed,
            duration,
            failures,
            client,
        )
    else:
        logger.warning(
            "account %s locked for %s after %d failed logins from any address",
            typed,
            duration,
            failures,
        )


def current_locks(now: datetime) -> list[LoginLock]:
    """The locks in force, newest first."""
    return list(
        db.session.scalars(
            select(LoginLock)
            .where(LoginLock.locked_until > now)
            .order_by(LoginLock.locked_at.desc(), LoginLock.username)
        )
    )


def lift_lock(scope: str, username: str, client: str, actor, now: datetime) -> bool:
    """Lift a lock (and forget the failures that led to it); audited as `lock_lifted`."""
    client = client if scope == "pair" else ""
    row = db.session.get(LoginLock, (scope, username, client))
    if row is None or as_utc(row.locked_until) <= now:
        return False
    db.session.delete(row)
    user = db.session.scalar(select(User).where(User.username == username))
    audit.record_event(
        "lock_lifted",
        actor,
        now,
        {"scope": scope, "username": username, "client": client},
        region_path=user.region_path if user else None,
    )
    db.session.commit()
    ts = now.timestamp()
    if scope == "pair":
        counters().clear(_pair_bucket(username, client), _seconds(FAILURE_WINDOW), ts)
    else:
        counters().clear(_account_bucket(username), _seconds(ACCOUNT_FAILURE_WINDOW), ts)
    logger.info("%s lock of %s (%s) lifted by %s", scope, username, client, actor.username)
    return True


def purge(now: datetime) -> int:
    """Delete the lapsed locks (no commit); how many."""
    return db.session.execute(delete(LoginLock).where(LoginLock.locked_until < now)).rowcount or 0
