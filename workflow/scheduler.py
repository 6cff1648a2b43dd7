"""APScheduler wiring: the sweep on a short interval; exactly one scheduler per deployment."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import text

from workflow import clock
from workflow.extensions import db

logger = logging.getLogger(__name__)
SWEEP_SECONDS = 30  # windows close within 60 s of their closing time
SCHEDULER_LOCK_KEY = 7_310_002
_held: dict = {}


def acquire_lock(app: Flask) -> bool:
    """Take the deployment's scheduler lock; False when another scheduler holds it."""
    if db.engine.dialect.name == "postgresql":
        conn = db.engine.connect()
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}
        ).scalar()
        conn.commit()
        if got:
            _held["conn"] = conn  # the lock lives as long as this connection
        else:
            conn.close()
        return bool(got)
    path = Path(app.instance_path) / "scheduler.lock"
    handle = open(path, "a+")  # noqa: SIM115 - kept open: the lock dies with the process
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


def sweep_job(app: Flask) -> None:
    """Close the windows due now (the same service as `exitflow sweep`)."""
    from workflow.services import publicity

    with app.app_context():
        try:
            result = publicity.sweep(clock.now())
            if result["closed"]:
                logger.info(
                    "sweep closed %d window(s), %d case(s) advanced",
                    result["closed"],
                    result["cases_advanced"],
                )
        finally:
            db.session.remove()


def _configure(scheduler, app: Flask) -> None:
    scheduler.add_job(
        sweep_job,
        "interval",
        seconds=SWEEP_SECONDS,
        args=[app],
        id="sweep",
        max_instances=1,
        coalesce=True,
        next_run_time=clock.now(),
    )


def start_embedded(app: Flask) -> BackgroundScheduler | None:
    """Start the scheduler inside a single web process (make run)."""
    with app.app_context():
        if not acquire_lock(app):
            logger.warning("another scheduler holds the lock; this process will not fire timers")
            return None
    scheduler = BackgroundScheduler(timezone="UTC")
    _configure(scheduler, app)
    scheduler.start()
    logger.info("embedded scheduler started")
    return scheduler


def run_forever(app: Flask) -> None:
    """Run the scheduler as its own process (exitflow scheduler)."""
    if not acquire_lock(app):
        raise SystemExit("error: another scheduler is already running for this database")
    scheduler = BlockingScheduler(timezone="UTC")
    _configure(scheduler, app)
    logger.info("scheduler started")
    scheduler.start()
