"""County batch approval of 10,000 cases vs the raw SQLite floor; the whole procedure rate."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

N = int(os.environ.get("EXITFLOW_BENCH_N", "10000"))


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


def main() -> None:
    """Seed N households, drive them to county_review, time the approval, then the rest."""
    from datetime import date

    from workflow import create_app
    from workflow.extensions import db
    from workflow.services import demo, transitions
    from workflow.services.actors import from_user

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = create_app(
            {
                "INSTANCE_PATH": str(folder / "instance"),
                "EXITFLOW_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
                "EXITFLOW_SECRET_KEY": "bench",
                "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
            }
        )
        import logging

        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            t0 = time.perf_counter()
            demo.seed(N, "Bench-password-1", demo.at(date(2019, 10, 1)))
            seeded = time.perf_counter() - t0
            t0 = time.perf_counter()
            demo.advance("county_review")
            to_review = time.perf_counter() - t0
            from sqlalchemy import select

            from workflow.models import Case, User

            ids = list(db.session.scalars(select(Case.id).where(Case.state == "county_review")))
            county = from_user(db.session.scalar(select(User).where(User.username == "county1")))
            db.session.commit()
            t0 = time.perf_counter()
            outcome = transitions.fire_many(
                "approve", ids, county, {"note": None}, demo.at(date(2019, 11, 12))
            )
            db.session.commit()
            approve = time.perf_counter() - t0
            assert len(outcome.succeeded) == len(ids), outcome.failed[:3]
            t0 = time.perf_counter()
            demo.advance("exited")
            rest = time.perf_counter() - t0
        floor = raw_floor(folder, len(ids))
    print(f"county batch approval of {len(ids)} cases (service layer, SQLite): {approve:.3f} s")
    print(
        f"raw SQLite floor (one transaction, {len(ids)} updates + {len(ids)} audit inserts): "
        f"{floor:.3f} s"
    )
    print(f"ratio approval / floor: {approve / floor:.1f}x (aim: within 5x)")
    whole = to_review + approve + rest
    print(
        f"whole procedure, {N} households planned -> exited: {whole:.1f} s "
        f"({N / whole:.0f} cases/s); seeding the county took {seeded:.1f} s"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
