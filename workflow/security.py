"""Web hardening: security headers, cookie flags, and per-client rate limits for public routes."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from functools import wraps

from flask import Flask, current_app, request

from workflow.errors import ExitflowError

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


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


class _Window:
    """A sliding one-minute window of request times per (group, client)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.hits: dict[tuple[str, str], deque] = defaultdict(deque)

    def allow(self, key: tuple[str, str], limit: int) -> float | None:
        now = time.monotonic()
        with self.lock:
            hits = self.hits[key]
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= limit:
                return 60 - (now - hits[0])
            hits.append(now)
            return None


_window = _Window()


def limited(group: str, per_minute: int):
    """Limit a public route per client address (process-local; a proxy may add its own)."""

    def wrap(fn):
        @wraps(fn)
        def inner(*args, **kwargs):
            limit = current_app.config.get("EXITFLOW_RATE_LIMITS", {}).get(group, per_minute)
            wait = _window.allow((group, request.remote_addr or "?"), limit)
            if wait is not None:
                raise TooManyRequests(
                    f"请求过于频繁,请 {int(wait) + 1} 秒后再试", retry_after=int(wait) + 1
                )
            return fn(*args, **kwargs)

        return inner

    return wrap


def reset_limits() -> None:
    """Forget every client's history (tests)."""
    with _window.lock:
        _window.hits.clear()
