"""A page of cases with 100,000 cases in the database: first and deep pages, per role."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

N = int(os.environ.get("EXITFLOW_BENCH_CASES", "100000"))


def main() -> None:
    """Seed N cases, then time list requests through the HTTP API (median of 5)."""
    from workflow import create_app
    from workflow.extensions import db
    from workflow.services import demo

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = create_app(
            {
                "INSTANCE_PATH": str(folder),
                "EXITFLOW_SECRET_KEY": "bench",
                "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
                "EXITFLOW_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            }
        )
        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            demo.seed(N, "Bench-password-1", demo.at(date(2019, 10, 1)))
            demo.advance("planned")
            db.session.remove()
        client = app.test_client()
        results = []
        for user, query in [
            ("county1", "per_page=50"),
            ("county1", "per_page=50&page=1000"),
            ("county1", "per_page=50&state=planned&page=500"),
            ("village1", "per_page=50"),
            ("county1", "per_page=1000"),
        ]:
            token = client.post(
                "/api/v1/auth/token", json={"username": user, "password": "Bench-password-1"}
            ).get_json()["token"]
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                r = client.get(
                    f"/api/v1/cases?{query}", headers={"Authorization": f"Bearer {token}"}
                )
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200
            results.append((user, query, sorted(times)[2], r.get_json()["total"]))
    for user, query, median, total in results:
        print(
            f"GET /api/v1/cases?{query} as {user} ({total} visible of {N}): {median * 1000:.0f} ms"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
