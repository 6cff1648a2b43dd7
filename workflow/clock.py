"""The one clock: every read of "now" goes through here, so tests can fake it."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from states.calendar import SHANGHAI

_lock = threading.Lock()
_fake: dict[str, datetime | None] = {"now": None}
_allowed = {"fake": False}


def parse_aware(value: str) -> datetime:
    """An ISO 8601 time with an offset; a naive one is refused."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("time must carry a UTC offset, e.g. 2019-11-01T09:00:00+08:00")
    return moment.astimezone(UTC)


def configure(allow_fake: bool, initial: str | None = None) -> None:
    """Allow (tests only) or forbid the fake clock; EXITFLOW_NOW sets its first value."""
    with _lock:
        _allowed["fake"] = allow_fake
        _fake["now"] = parse_aware(initial) if (allow_fake and initial) else None


def set_fake_now(moment: datetime | None) -> None:
    """Set the fake clock (None returns to real time); refused unless allowed."""
    if not _allowed["fake"]:
        raise PermissionError("the fake clock is not enabled (EXITFLOW_ALLOW_FAKE_CLOCK)")
    with _lock:
        _fake["now"] = moment.astimezone(UTC) if moment else None


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    fake = _fake["now"]
    if fake is not None and _allowed["fake"]:
        return fake
    return datetime.now(UTC)


def local_today(moment: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai."""
    return (moment or now()).astimezone(SHANGHAI).date()


def as_utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive values)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
