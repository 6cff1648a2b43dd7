"""The whole household procedure, planned -> exited, for N households; the county batch approval.

Seeds the demo county with N households, drives every case from `planned` to
`exited` through the real services (demo.advance: survey, appraisal, both
publicity windows and their sweeps, three verifiers' sign-offs, the county's
batch approval, the evaluation, announcement and exit record), and prints the
whole procedure's rate: wall time, and this process's CPU time (the figure to
compare on a shared machine; on PostgreSQL the server's work is in the wall
time only). The county's batch approval is timed on its own as well, against
the raw SQLite floor of the same writes.

Environment:
  EXITFLOW_BENCH_N             households (10000)
  EXITFLOW_BENCH_DATABASE_URL  a PostgreSQL URL (else a temporary SQLite file); its schema
                               (`?options=-csearch_path%3Dbench_wf` by default) is
                               dropped and created again, and dropped at the end
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.common import database, describe_database, machine

N = int(os.environ.get("EXITFLOW_BENCH_N", "10000"))
DATABASE_URL = os.environ.get("EXITFLOW_BENCH_DATABASE_URL", "")
PG_SCHEMA = "bench_wf"


def raw_floor(folder: Path, n: int) -> float:
    """One SQLite transaction updating n case rows and inserting n audit rows."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE cases (id INTEGER PRIMARY KEY, state TEXT, version INTEGER, updated_at TEXT)"
    )
    conn.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, seq INTEGER UNIQUE, case_id "
        "INTEGER, trigger TEXT, from_state TEXT, to_state TEXT, actor TEXT, at TEXT, "
        "data TEXT, prev_hash TEXT, hash TEXT)"
    )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO cases VALUES (?, 'county_review', 9, '')", [(i,) for i in range(1, n + 1)]
    )
    conn.execute("COMMIT")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "UPDATE cases SET state='filed', version=version+1, updated_at=? WHERE id=? AND version=9",
        [("2019-11-12", i) for i in range(1, n + 1)],
    )
    digest = "0" * 64
    rows = []
    for i in range(1, n + 1):
        digest = hashlib.sha256(f"{i}{digest}".encode()).hexdigest()
        rows.append(
            (
                i,
                i,
                "approve",
                "county_review",
                "filed",
                "county1",
                "2019-11-12",
                "{}",
                "0" * 64,
                digest,
            )
        )
    conn.executemany(
        "INSERT INTO audit (seq, case_id, trigger, from_state, to_state, actor, at, "
        "data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


class Clock:
    """Wall and this process's CPU time of the parts of the run."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    @contextmanager
    def timing(self):
        """Add the time of the block."""
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - w0
            self.cpu += time.process_time() - c0


def main() -> None:
    """Seed N households, drive them to county_review, time the approval, then the rest."""
    from datetime import date

    from sqlalchemy import event, select

    from workflow import create_app
    from workflow.extensions import db
    from workflow.models import Case, User
    from workflow.services import demo, transitions
    from workflow.services.actors import from_user

    started_on = machine()
    with tempfile.TemporaryDirectory() as tmp, database(Path(tmp), DATABASE_URL, PG_SCHEMA) as url:
        folder = Path(tmp)
        app = create_app(
            {
                "INSTANCE_PATH": str(folder / "instance"),
                "EXITFLOW_DATABASE_URL": url,
                "EXITFLOW_SECRET_KEY": "bench",
                "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
            }
        )
        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            on = describe_database()
            sqlite = db.engine.dialect.name == "sqlite"
            t0 = time.perf_counter()
            demo.seed(N, "Bench-password-1", demo.at(date(2019, 10, 1)))
            seeded = time.perf_counter() - t0
            statements = []

            def count(*_args, **_kwargs):
                statements.append(1)

            event.listen(db.engine, "before_cursor_execute", count)
            whole, approval = Clock(), Clock()
            with whole.timing():
                demo.advance("county_review")
            ids = list(db.session.scalars(select(Case.id).where(Case.state == "county_review")))
            county = from_user(db.session.scalar(select(User).where(User.username == "county1")))
            db.session.commit()
            with whole.timing(), approval.timing():
                outcome = transitions.fire_many(
                    "approve", ids, county, {"note": None}, demo.at(date(2019, 11, 12))
                )
                db.session.commit()
            assert len(outcome.succeeded) == len(ids), outcome.failed[:3]
            with whole.timing():
                counts = demo.advance("exited")
            event.remove(db.engine, "before_cursor_execute", count)
            assert counts == {"exited": N}, counts
            db.session.remove()
            db.engine.dispose()
        floor = raw_floor(folder, len(ids)) if sqlite else None
    print(f"workflow bench on {on}; {started_on}")
    print(
        f"  whole procedure, {N} households planned -> exited: {whole.wall:.2f} s "
        f"({N / whole.wall:.0f} cases/s); this process's CPU: {whole.cpu:.2f} s "
        f"({N / whole.cpu:.0f} cases per CPU-second); {len(statements)} SQL statements "
        f"(seeding the county took {seeded:.1f} s, not counted)"
    )
    print(
        f"  county batch approval of {len(ids)} cases (service layer): {approval.wall:.3f} s "
        f"(CPU {approval.cpu:.3f} s)"
    )
    if floor is not None:
        print(
            f"  raw SQLite floor (one transaction, {len(ids)} updates + {len(ids)} audit "
            f"inserts): {floor:.3f} s; approval / floor: {approval.wall / floor:.1f}x "
            "(aim: within 5x)"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
