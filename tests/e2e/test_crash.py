"""A process killed (SIGKILL) in the middle of a batch or a sweep leaves every case either
fully transitioned with its audit record, or untouched. Done for real, with a child process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from workflow import create_app
from workflow.extensions import db
from workflow.models import AuditRecord, Case, PublicityWindow
from workflow.services import audit, demo

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys, time
from datetime import date, timedelta
from sqlalchemy import select
from workflow import create_app
from workflow.extensions import db
from workflow.models import Case, PublicityWindow, User
from workflow.services import demo, publicity, transitions
from workflow.services.actors import from_user
app = create_app({"INSTANCE_PATH": sys.argv[1], "EXITFLOW_SECRET_KEY": "k",
                  "EXITFLOW_DATABASE_URL": "sqlite:///" + sys.argv[2]})
with app.app_context():
    if sys.argv[3] == "approve":
        ids = list(db.session.scalars(select(Case.id).where(Case.state == "county_review")))
        county = from_user(db.session.scalar(select(User).where(User.username == "county1")))
        db.session.rollback()
        print("go", flush=True)
        transitions.fire_many("approve", ids, county, {}, demo.at(date(2019, 11, 12)))
        db.session.commit()
    else:
        last = max(db.session.scalars(select(PublicityWindow.closes_at)))
        db.session.rollback()
        print("go", flush=True)
        publicity.sweep(last + timedelta(seconds=1))
    print("done", flush=True)
"""


def app_for(folder: Path, name: str):
    return create_app(
        {
            "INSTANCE_PATH": str(folder),
            "EXITFLOW_SECRET_KEY": "k",
            "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
            "EXITFLOW_DATABASE_URL": f"sqlite:///{folder / name}",
        }
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Two databases: 4,000 cases awaiting approval; 12 windows of 250 cases due."""
    folder = tmp_path_factory.mktemp("crash")
    for name, state in (("review.db", "county_review"), ("windows.db", "village_publicity")):
        app = app_for(folder, name)
        with app.app_context():
            db.create_all()
            demo.seed(
                4000 if state == "county_review" else 3000,
                "Crash-test-pass1",
                demo.at(date(2019, 10, 1)),
            )
            demo.advance(state)
            db.session.remove()
            db.engine.dispose()
    return folder


def trial(seeded: Path, tmp: Path, name: str, job: str, delay: float) -> Path:
    """Copy the database, start the job in a child, SIGKILL it `delay` s after it starts."""
    for suffix in ("", "-wal", "-shm"):  # the last connection's close checkpoints the WAL
        if (seeded / f"{name}{suffix}").exists():
            shutil.copy(seeded / f"{name}{suffix}", tmp / f"{name}{suffix}")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp), str(tmp / name), job],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout.readline().strip() == "go"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    return tmp / name


DELAYS = [0.0, 0.03, 0.06, 0.1, 0.15, 0.25, 0.5]


@pytest.mark.parametrize("delay", DELAYS)
def test_killed_batch_is_all_or_nothing(seeded, tmp_path, delay):
    trial(seeded, tmp_path, "review.db", "approve", delay)
    app = app_for(tmp_path, "review.db")
    with app.app_context():
        filed = db.session.scalar(
            select(func.count()).select_from(Case).where(Case.state == "filed")
        )
        waiting = db.session.scalar(
            select(func.count()).select_from(Case).where(Case.state == "county_review")
        )
        approvals = db.session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.trigger == "approve")
        )
        assert (filed, waiting) in ((0, 4000), (4000, 0))
        assert approvals == filed
        assert audit.verify().ok
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("delay", DELAYS)
def test_killed_sweep_closes_whole_windows_only(seeded, tmp_path, delay):
    trial(seeded, tmp_path, "windows.db", "sweep", delay)
    app = app_for(tmp_path, "windows.db")
    with app.app_context():
        for window in db.session.scalars(select(PublicityWindow)):
            states = set(db.session.scalars(select(Case.state).where(Case.window_id == window.id)))
            closes = db.session.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(
                    AuditRecord.trigger == "close_window",
                    AuditRecord.data_json == f'{{"window_id":{window.id}}}',
                )
            )
            if window.closed_at is None:
                assert states == {"village_publicity"} and closes == 0
            else:
                assert (
                    states == {"township_verification"}
                    and closes
                    == len(
                        window_cases := list(
                            db.session.scalars(select(Case.id).where(Case.window_id == window.id))
                        )
                    )
                    and window_cases
                )
        assert audit.verify().ok
        db.session.remove()
        db.engine.dispose()
