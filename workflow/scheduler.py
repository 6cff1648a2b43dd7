"""APScheduler wiring: calls services, nothing else; exactly one scheduler per deployment.

Timers are data (ARCHITECTURE.md 10): a window's `closes_at` and a case's
`deadline_at` are columns. The scheduler sweeps every EXITFLOW_SWEEP_SECONDS
(30 s by default, so a window closes within 60 s of its closing time and never
before it), catches up at start-up after downtime, and writes a daily digest.
"""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import text

from workflow import clock
from workflow.extensions import db

logger = logging.getLogger(__name__)
SCHEDULER_LOCK_KEY = 7_310_002
_held: dict = {}


def acquire_lock(app: Flask) -> bool:
    """Take the deployment's scheduler lock; False when another scheduler holds it.

    PostgreSQL: a session advisory lock, held by a connection kept open. SQLite: an
    flock on instance/scheduler.lock. Both die with the process that holds them.
    """
    if db.engine.dialect.name == "postgresql":
        conn = db.engine.connect()
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}
        ).scalar()
        conn.commit()
        if got:
            _held["conn"] = conn
        else:
            conn.close()
        return bool(got)
    path = Path(app.instance_path) / "scheduler.lock"
    handle = open(path, "a+")  # noqa: SIM115 - stays open: the lock lives with it
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held["file"] = handle
    return True


def release_lock() -> None:
    """Give the lock back (a stopping scheduler, or tests)."""
    conn = _held.pop("conn", None)
    if conn is not None:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK_KEY})
        conn.commit()
        conn.close()
    handle = _held.pop("file", None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def tick(app: Flask) -> dict:
    """Close the windows due now (as `exitflow sweep`) and flag overdue cases."""
    from workflow.services import deadlines, notices, publicity

    with app.app_context():
        try:
            now = clock.now()
            result = publicity.sweep(now)
            result["overdue_flagged"] = deadlines.mark_overdue(now)
            result["notices_rendered"] = notices.render_pending()
            result["errors"] = len(result["errors"])
            deadlines.record_run("sweep", now, result)
            return result
        finally:
            db.session.remove()


def digest(app: Flask) -> int:
    """Write today's digests of overdue steps."""
    from workflow.services import deadlines

    with app.app_context():
        try:
            now = clock.now()
            made = deadlines.make_digests(now)
            deadlines.record_run("digest", now, {"digests": made})
            return made
        finally:
            db.session.remove()


def checkpoint(app: Flask) -> None:
    """Record every audit chain's head in the checkpoint chain."""
    from workflow.services import audit

    with app.app_context():
        try:
            audit.checkpoint(clock.now())
        finally:
            db.session.remove()


def purge(app: Flask) -> dict:
    """Delete web sessions a week past their end, lapsed login locks and spent rate counters."""
    from workflow.services import users

    with app.app_context():
        try:
            return users.purge(clock.now())
        finally:
            db.session.remove()


def refresh_stats(app: Flask) -> dict:
    """Recompute the dashboards' region statistics (replaced whole, never per transition)."""
    from workflow.services import deadlines, statistics

    with app.app_context():
        try:
            now = clock.now()
            result = statistics.refresh(now)
            deadlines.record_run("stats", now, result)
            return result
        finally:
            db.session.remove()


def catch_up(app: Flask) -> dict:
    """At start-up: record the keys in use if they changed, then close what came due while
    nothing ran, oldest first, and say so."""
    from workflow.services import key_events

    with app.app_context():
        try:
            if key_events.record_keys_in_use(clock.now()):
                logger.warning("the data key or the session key changed since the last start")
        finally:
            db.session.remove()
    result = tick(app)
    logger.info(
        "start-up catch-up: %d due window(s) closed, %d case(s) advanced",
        result["closed"],
        result["cases_advanced"],
    )
    return result


def _configure(scheduler, app: Flask) -> None:
    seconds = float(app.config.get("EXITFLOW_SWEEP_SECONDS") or 30)
    scheduler.add_job(
        tick, "interval", seconds=seconds, args=[app], id="sweep", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        checkpoint,
        "interval",
        minutes=float(app.config.get("EXITFLOW_CHECKPOINT_MINUTES") or 10),
        args=[app],
        id="checkpoint",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        purge, "interval", hours=1, args=[app], id="purge", max_instances=1, coalesce=True
    )
    from workflow.services import statistics

    # The first refresh at once: after downtime the dashboards should not wait an interval.
    scheduler.add_job(
        refresh_stats,
        "interval",
        seconds=statistics.settings(app.config)[0],
        args=[app],
        id="stats",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        digest,
        "cron",
        hour=8,
        minute=0,
        timezone="Asia/Shanghai",
        args=[app],
        id="digest",
        max_instances=1,
        coalesce=True,
    )


def start_embedded(app: Flask) -> BackgroundScheduler | None:
    """Start the scheduler inside a single web process (make run)."""
    with app.app_context():
        if not acquire_lock(app):
            logger.warning("another scheduler holds the lock; this process fires no timers")
            return None
    catch_up(app)
    scheduler = BackgroundScheduler(timezone="UTC")
    _configure(scheduler, app)
    scheduler.start()
    logger.info("embedded scheduler started")
    return scheduler


def stop(scheduler) -> None:
    """Stop a scheduler started here and release the lock."""
    if scheduler is not None:
        scheduler.shutdown(wait=True)
    release_lock()


def run_forever(app: Flask) -> None:
    """Run the scheduler as its own process (exitflow scheduler)."""
    if not acquire_lock(app):
        raise SystemExit("error: another scheduler is already running for this database")
    catch_up(app)
    scheduler = BlockingScheduler(timezone="UTC")
    _configure(scheduler, app)
    logger.info("scheduler started")
    try:
        scheduler.start()
    finally:
        release_lock()
