"""Closing publicity windows when due: the sweep, many windows per transaction.

At province scale every village's window is due at the same midnight (10,000
windows, 1,000,000 cases). The sweep closes them in chunks of up to
CHUNK_CASES listed cases, each chunk one transaction of a few set-based
statements and one `transitions.fire_many` for all its cases, whatever their
window or county. A chunk that fails is rolled back and closed again in
halves, down to the one window that fails, so one bad window never blocks the
others (ARCHITECTURE.md, convention 10).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from states.procedure import VIA_SWEEP
from states.registry import procedure
from workflow.clock import as_utc
from workflow.database import id_in, reading
from workflow.errors import VersionConflict
from workflow.extensions import db
from workflow.models import Case, PublicityWindow, WindowCase
from workflow.services import transitions
from workflow.services.actors import SYSTEM

logger = logging.getLogger(__name__)

# One transaction closes windows listing up to this many cases (one larger window
# is a chunk of its own): large enough that per-statement costs vanish, small enough
# that a chunk holds its locks (SQLite's write lock) for a second or two at most.
CHUNK_CASES = 20_000
CHUNK_WINDOWS = 1_000


@dataclass(frozen=True)
class _Closing:
    """What closing one window does: the states its cases leave, the data each records."""

    states: frozenset[str]
    data: dict


def due_windows(now: datetime) -> list[int]:
    """Ids of windows whose closing time has passed and that are not closed, oldest first."""
    return [window_id for window_id, _listed in _due(now)]


def _due(now: datetime) -> list[tuple[int, int]]:
    """(id, cases listed) of the due windows, oldest first."""
    return [
        (row[0], row[1])
        for row in db.session.execute(
            select(PublicityWindow.id, func.count(WindowCase.case_id))
            .outerjoin(WindowCase, WindowCase.window_id == PublicityWindow.id)
            .where(PublicityWindow.closed_at.is_(None), PublicityWindow.closes_at <= now)
            .group_by(PublicityWindow.id, PublicityWindow.closes_at)
            .order_by(PublicityWindow.closes_at, PublicityWindow.id)
        )
    ]


def _chunks(due: list[tuple[int, int]]) -> list[list[int]]:
    """Consecutive due windows grouped up to CHUNK_CASES listed cases and CHUNK_WINDOWS."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for window_id, listed in due:
        if current and (size + listed > CHUNK_CASES or len(current) >= CHUNK_WINDOWS):
            chunks.append(current)
            current, size = [], 0
        current.append(window_id)
        size += listed
    if current:
        chunks.append(current)
    return chunks


def sweep(now: datetime, dry_run: bool = False) -> dict:
    """Close every window due by now, oldest first; one bad window never blocks the others."""
    with reading():  # listing what is due takes no write lock (SQLite)
        due = _due(now)
        db.session.rollback()
    result = {"due": len(due), "closed": 0, "cases_advanced": 0, "errors": []}
    if dry_run:
        return result
    for chunk in _chunks(due):
        _close_or_split(chunk, now, result)
    return result


def _close_or_split(window_ids: list[int], now: datetime, result: dict) -> None:
    """Close the windows in one transaction; if that fails, each half on its own, and so on."""
    try:
        moved = _close(window_ids, now)
    except Exception as err:  # noqa: BLE001 - one bad window must not stop the sweep
        db.session.rollback()
        if len(window_ids) == 1:
            logger.exception("window %s could not be closed", window_ids[0])
            result["errors"].append({"window_id": window_ids[0], "error": str(err)})
            return
        logger.warning(
            "closing %d windows together failed (%s); closing them in halves",
            len(window_ids),
            err,
        )
        half = len(window_ids) // 2
        _close_or_split(window_ids[:half], now, result)
        _close_or_split(window_ids[half:], now, result)
        return
    result["closed"] += len(moved)
    result["cases_advanced"] += sum(moved.values())


def close_window(window_id: int, now: datetime) -> int | None:
    """Close one due window and advance its cases still in publicity; None if not due."""
    return _close([window_id], now).get(window_id)


def _closing(window) -> _Closing:
    """The states a window's cases leave when it closes, and what their records say."""
    return _Closing(frozenset(procedure(window.kind).publicity_states), {"window_id": window.id})


def _close(window_ids: list[int], now: datetime) -> dict[int, int]:
    """Close those of the windows still due, in one transaction: {window id: cases advanced}.

    Each window row is locked and re-checked (still open, due by now: never a second
    early); each listed case still in its window's publicity state advances, a case
    under objection waits for the objection's resolution; each window is closed under
    the version it was read with.
    """
    windows = db.session.execute(
        select(
            PublicityWindow.id,
            PublicityWindow.code,
            PublicityWindow.kind,
            PublicityWindow.closes_at,
            PublicityWindow.version,
        )
        .where(
            id_in(PublicityWindow.id, window_ids),
            PublicityWindow.closed_at.is_(None),
            PublicityWindow.closes_at <= now,
        )
        .order_by(PublicityWindow.id)  # locks taken in one order: concurrent sweeps queue
        .with_for_update()
    ).all()
    windows = [w for w in windows if as_utc(w.closes_at) <= now]
    if not windows:
        db.session.rollback()
        return {}
    closing = {w.id: _closing(w) for w in windows}
    states = sorted(set().union(*(c.states for c in closing.values())))
    listed = list(
        db.session.scalars(
            select(Case.id)
            .where(id_in(Case.window_id, list(closing)), Case.state.in_(states))
            .order_by(Case.id)
        )
    )
    rows = {}
    if listed:
        # Locked (FOR UPDATE on PostgreSQL) and re-checked: still in this window, and in
        # a state its window's close moves on.
        rows = {
            cid: row
            for cid, row in transitions.load_rows(listed, with_data=False).items()
            if row.window_id in closing and row.state in closing[row.window_id].states
        }
    moved: Counter[int] = Counter()
    if rows:
        outcome = transitions.fire_many(
            "close_window",
            list(rows),
            SYSTEM,
            {},
            now,
            via=VIA_SWEEP,
            extra_facts={"window_open": False},
            rows=rows,
            # Each case's record names its window (one shared dict per window).
            payloads={cid: closing[row.window_id].data for cid, row in rows.items()},
        )
        moved.update(rows[cid].window_id for cid in outcome.succeeded)
        codes = {w.id: w.code for w in windows}
        for failure in outcome.failed:
            logger.error(
                "window %s: case %s did not advance: %s",
                codes[rows[failure["id"]].window_id],
                failure["id"],
                failure["detail"],
            )
    table = PublicityWindow.__table__
    closed = db.session.execute(
        update(table)
        .where(
            table.c.id == bindparam("w_id"),
            table.c.version == bindparam("w_version"),
            table.c.closed_at.is_(None),
        )
        .values(closed_at=now, version=table.c.version + 1),
        [{"w_id": w.id, "w_version": w.version} for w in windows],
        execution_options={"synchronize_session": False},
    ).rowcount
    if closed != len(windows):
        raise VersionConflict(f"{len(windows) - closed} 个公示已被同时修改 (concurrent update)")
    db.session.commit()
    for w in windows:
        logger.info("window %s closed: %d case(s) advanced", w.code, moved[w.id])
    return {w.id: moved[w.id] for w in windows}
