"""Web hardening: security headers, cookie flags, and rate limits shared by every worker.

Rate limits and login-failure counters are sliding-window counters (two fixed
windows, the previous one weighted by how much of it still overlaps the last
`window` seconds). They live where every worker process sees them: in Redis when
EXITFLOW_REDIS_URL is set (INCR and EXPIRE in one pipeline, keys prefixed by
EXITFLOW_REDIS_PREFIX), else in the database (`rate_counters`, one row per bucket
and window: one SQLite file or PostgreSQL is shared by the workers too). When the
configured Redis cannot be reached, the database takes over (a warning is logged
once per outage) and Redis is tried again 30 seconds later.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps

from flask import Flask, current_app, has_app_context, request
from sqlalchemy import delete, select

from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
RATE_WINDOW = 60  # seconds: the limits are per minute
LOGIN_PER_MINUTE = 20  # sign-in attempts per client address, web form and API together
REDIS_RETRY_SECONDS = 30.0
_EXTENSION = "exitflow.counters"


class TooManyRequests(ExitflowError):
    """A client sent more requests than the public routes allow."""

    status, title = 429, "Too many requests"


def harden(app: Flask) -> None:
    """Headers on every response; Secure cookies in production."""
    production = app.config["EXITFLOW_ENV"] == "production"
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
    )

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if production:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


# -- transactions of their own ---------------------------------------------------------


@contextmanager
def apart() -> Iterator[None]:
    """A short write transaction of its own on the request's session, committed at once.

    The session's open transaction (a read, on SQLite without a lock) is ended
    first; nothing may be pending in it. Inside, the transaction takes SQLite's
    write lock at BEGIN even during a GET request (which otherwise only reads).
    Using the request's own session (not a second connection) means it can never
    wait on a lock its own request holds.
    """
    from workflow.database import end_transaction, reset_read_only, set_read_only

    end_transaction()
    token = set_read_only(False)
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        reset_read_only(token)


# -- counters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """A sliding-window count: this window's hits and the previous window's."""

    current: int
    previous: int
    elapsed: float  # seconds since the current window began
    window: int

    @property
    def estimate(self) -> float:
        """Hits within the last `window` seconds (the previous window weighted by overlap)."""
        return self.previous * (1 - self.elapsed / self.window) + self.current

    def retry_after(self, limit: int) -> int:
        """Whole seconds until the estimate is back within `limit`."""
        if self.current > limit or self.previous == 0:
            return max(1, math.ceil(self.window - self.elapsed))
        # previous * (1 - (elapsed + wait) / window) + current <= limit
        wait = self.window * (1 - (limit - self.current) / self.previous) - self.elapsed
        return max(1, math.ceil(wait))


def _window_of(now: float, window: int) -> tuple[int, float]:
    start = int(now // window) * window
    return start, now - start


class DatabaseCounters:
    """Counters in the `rate_counters` table (each write commits in a transaction of its own)."""

    name = "database"

    def hit(self, bucket: str, window: int, now: float) -> Count:
        from workflow.models.users import RateCounter

        start, elapsed = _window_of(now, window)
        with apart():
            insert = upsert_insert()
            statement = (
                insert(RateCounter)
                .values(bucket=bucket, window_start=start, hits=1, expires_at=start + 2 * window)
                .on_conflict_do_update(
                    index_elements=["bucket", "window_start"],
                    set_={"hits": RateCounter.__table__.c.hits + 1},
                )
                .returning(RateCounter.hits)
            )
            current = db.session.execute(statement).scalar_one()
            previous = db.session.scalar(
                select(RateCounter.hits).where(
                    RateCounter.bucket == bucket, RateCounter.window_start == start - window
                )
            )
        return Count(current, previous or 0, elapsed, window)

    def peek(self, bucket: str, window: int, now: float) -> Count:
        from workflow.models.users import RateCounter

        start, elapsed = _window_of(now, window)
        rows = dict(
            db.session.execute(
                select(RateCounter.window_start, RateCounter.hits).where(
                    RateCounter.bucket == bucket,
                    RateCounter.window_start.in_((start, start - window)),
                )
            ).all()
        )
        return Count(rows.get(start, 0), rows.get(start - window, 0), elapsed, window)

    def clear(self, bucket: str, window: int, now: float) -> None:
        from workflow.models.users import RateCounter

        with apart():
            db.session.execute(delete(RateCounter).where(RateCounter.bucket == bucket))

    def reset(self) -> None:
        from workflow.models.users import RateCounter

        with apart():
            db.session.execute(delete(RateCounter))


def upsert_insert():
    """The dialect's INSERT that knows ON CONFLICT (SQLite and PostgreSQL)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class RedisCounters:
    """Counters in Redis: one key per bucket and window, INCR and EXPIRE in one pipeline."""

    name = "redis"

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=0.5, retry_on_timeout=False
        )
        self.prefix = prefix

    def _key(self, bucket: str, start: int) -> str:
        return f"{self.prefix}count:{bucket}:{start}"

    def hit(self, bucket: str, window: int, now: float) -> Count:
        start, elapsed = _window_of(now, window)
        key = self._key(bucket, start)
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 2 * window + 5)
        pipe.get(self._key(bucket, start - window))
        current, _, previous = pipe.execute()
        return Count(int(current), int(previous or 0), elapsed, window)

    def peek(self, bucket: str, window: int, now: float) -> Count:
        start, elapsed = _window_of(now, window)
        current, previous = self.client.mget(
            self._key(bucket, start), self._key(bucket, start - window)
        )
        return Count(int(current or 0), int(previous or 0), elapsed, window)

    def clear(self, bucket: str, window: int, now: float) -> None:
        start, _ = _window_of(now, window)
        self.client.delete(self._key(bucket, start), self._key(bucket, start - window))

    def reset(self) -> None:
        keys = list(self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500))
        for i in range(0, len(keys), 500):
            self.client.delete(*keys[i : i + 500])


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class Counters:
    """The deployment's counter store: Redis when configured and reachable, else the database."""

    def __init__(self, redis_url: str = "", prefix: str = "exitflow:"):
        self.database = DatabaseCounters()
        self.redis = RedisCounters(redis_url, prefix) if redis_url else None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned = False

    @property
    def backend(self) -> str:
        """Where the next count goes: "redis" or "database"."""
        if self.redis is not None and time.monotonic() >= self._down_until:
            return "redis"
        return "database"

    def _call(self, method: str, *args):
        if self.redis is not None and time.monotonic() >= self._down_until:
            import redis

            try:
                result = getattr(self.redis, method)(*args)
            except redis.RedisError as err:
                with self._lock:
                    self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
                    warn, self._warned = not self._warned, True
                if warn:
                    logger.warning(
                        "Redis unreachable (%s): rate limits and login counters use the "
                        "database until it answers again",
                        err,
                    )
            else:
                if self._warned:
                    with self._lock:
                        self._warned = False
                    logger.info("Redis answers again: rate limits and login counters use it")
                return result
        return getattr(self.database, method)(*args)

    def hit(self, bucket: str, window: int, now: float | None = None) -> Count:
        """Count one more hit in the bucket; the count including it."""
        return self._call("hit", bucket, window, _now() if now is None else now)

    def peek(self, bucket: str, window: int, now: float | None = None) -> Count:
        """The bucket's count, without counting."""
        return self._call("peek", bucket, window, _now() if now is None else now)

    def clear(self, bucket: str, window: int, now: float | None = None) -> None:
        """Forget a bucket's hits (a successful login forgets its failures)."""
        self._call("clear", bucket, window, _now() if now is None else now)

    def reset(self) -> None:
        """Forget every bucket (tests)."""
        if self.redis is not None:
            import redis

            try:
                self.redis.reset()
            except redis.RedisError:
                pass
        self.database.reset()

    def forget_outage(self) -> None:
        """Try Redis at once next time, and warn again if it is down (tests)."""
        with self._lock:
            self._down_until, self._warned = 0.0, False


def _now() -> float:
    return clock.now().timestamp()


def counters(app: Flask | None = None) -> Counters:
    """The application's counter store (made on first use)."""
    app = app or current_app._get_current_object()
    store = app.extensions.get(_EXTENSION)
    if store is None:
        store = app.extensions.setdefault(
            _EXTENSION,
            Counters(
                str(app.config.get("EXITFLOW_REDIS_URL") or ""),
                str(app.config.get("EXITFLOW_REDIS_PREFIX") or "exitflow:"),
            ),
        )
    return store


# -- rate limits ---------------------------------------------------------------------------


def client_address() -> str:
    """The client's address as this server sees it (a proxy must pass it on, e.g. ProxyFix)."""
    return (request.remote_addr or "?")[:64]


def throttle(group: str, per_minute: int, client: str | None = None) -> None:
    """Count one request of the client in the group; TooManyRequests when over the limit.

    EXITFLOW_RATE_LIMITS ({group: per_minute}) overrides the default limit.
    """
    limit = int(current_app.config.get("EXITFLOW_RATE_LIMITS", {}).get(group, per_minute))
    count = counters().hit(f"rate:{group}:{client or client_address()}", RATE_WINDOW)
    if count.estimate > limit:
        wait = count.retry_after(limit)
        raise TooManyRequests(f"请求过于频繁,请 {wait} 秒后再试", retry_after=wait)


def limited(group: str, per_minute: int):
    """Limit a route per client address, across every worker process."""

    def wrap(fn):
        @wraps(fn)
        def inner(*args, **kwargs):
            throttle(group, per_minute)
            return fn(*args, **kwargs)

        return inner

    return wrap


def reset_limits() -> None:
    """Forget every client's history (tests): Redis outages, and in an app context every count."""
    if not has_app_context():
        return
    store = counters()
    store.forget_outage()
    store.reset()
