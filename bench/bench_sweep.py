"""Closing 1,000 due publicity windows holding 100,000 cases in one sweep."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

WINDOWS = int(os.environ.get("EXITFLOW_BENCH_WINDOWS", "1000"))
PER_WINDOW = int(os.environ.get("EXITFLOW_BENCH_PER_WINDOW", "100"))


def main() -> None:
    """Seed, post the windows through the service, then time one sweep past their closing."""
    from sqlalchemy import event, select

    from workflow import create_app
    from workflow.extensions import db
    from workflow.models import Case, User
    from workflow.services import demo, publicity
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
        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            demo.seed(WINDOWS * PER_WINDOW, "Bench-password-1", demo.at(date(2019, 10, 1)))
            demo.advance("appraised")
            clerks = {
                u.region_code: from_user(u)
                for u in db.session.scalars(select(User).where(User.role == "village"))
            }
            by_village: dict[str, list[int]] = {}
            for cid, village in db.session.execute(
                select(Case.id, Case.village_code)
                .where(Case.state == "appraised")
                .order_by(Case.id)
            ):
                by_village.setdefault(village, []).append(cid)
            posted, latest = 0, None
            t0 = time.perf_counter()
            for village, ids in by_village.items():
                for i in range(0, len(ids), PER_WINDOW):
                    window = publicity.post(
                        clerks[village],
                        village,
                        ids[i : i + PER_WINDOW],
                        {"phone": "1", "address": "村委会"},
                        None,
                        demo.at(date(2019, 10, 21)),
                    )
                    latest = max(latest or window.closes_at, window.closes_at)
                    posted += 1
            post_time = time.perf_counter() - t0
            statements = []
            event.listen(db.engine, "before_cursor_execute", lambda *a, **k: statements.append(1))
            t0 = time.perf_counter()
            result = publicity.sweep(latest + timedelta(seconds=1))
            sweep_time = time.perf_counter() - t0
        cases = result["cases_advanced"]
    print(
        f"posting {posted} windows of {PER_WINDOW} cases: {post_time:.1f} s "
        f"({post_time / posted * 1000:.0f} ms a window)"
    )
    print(
        f"one sweep closing {result['closed']} windows holding {cases} cases: "
        f"{sweep_time:.2f} s ({cases / sweep_time:.0f} cases/s), "
        f"{len(statements) / max(result['closed'], 1):.1f} queries per window"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
