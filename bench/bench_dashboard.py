"""Dashboards with a province of cases: the page for province, city and county users.

Issue #14 item 7: p95 <= 300 ms per dashboard page with 1,000,000 cases. The bench
seeds a province (14 cities, 110 counties, ~1,200 townships, ~15,000 villages; the
cases and their households in bulk, spread over the villages and the household
procedure's states), then, in the same run and on the same data:

  baseline  the page counting live (no snapshot, no size limit: GROUP BY over cases
            joined to households on every view), and the previous page's queries
            (GROUP BYs plus a live incidence per village for 60 villages)
  refresh   `statistics.refresh`: the set-based recount and swap (twice: cold, warm)
  page      the page from the materialized rows, p50/p95 through the Flask client,
            signed in, for each user; with a drill-down and a deep page of villages
  api       GET /api/v1/regions/{province}: its incidence from the fresh statistics

Environment:
  EXITFLOW_BENCH_CASES          cases (1,000,000); one household each
  EXITFLOW_BENCH_RUNS           timed requests per page (50)
  EXITFLOW_BENCH_BASELINE_RUNS  timed requests per baseline (5; the previous page's: 3)
  EXITFLOW_BENCH_DATABASE_URL   a PostgreSQL URL: its schema (`?options=-csearch_path%3D
                                bench_dash` by default) is dropped, created, and dropped at
                                the end; SQLite (a temporary file) always runs first
  EXITFLOW_BENCH_BACKENDS       `sqlite,postgresql` by default (either one alone)
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import database

N = int(os.environ.get("EXITFLOW_BENCH_CASES", "1000000"))
RUNS = int(os.environ.get("EXITFLOW_BENCH_RUNS", "50"))
BASE_RUNS = int(os.environ.get("EXITFLOW_BENCH_BASELINE_RUNS", "5"))
PG_URL = os.environ.get("EXITFLOW_BENCH_DATABASE_URL", "")
BACKENDS = os.environ.get("EXITFLOW_BENCH_BACKENDS", "sqlite,postgresql").split(",")
PG_SCHEMA = "bench_dash"
PASSWORD = "Bench-password-1"
CHUNK = 50_000


def percentile(times: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) in milliseconds."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


HOUSEHOLD_COLUMNS = (
    "id",
    "village_code",
    "region_path",
    "group",
    "head_name",
    "head_id_cipher",
    "head_id_hash",
    "head_id_masked",
    "poverty_cause",
    "status",
    "registered",
    "size",
    "created_at",
)
CASE_COLUMNS = (
    "id",
    "kind",
    "household_id",
    "village_code",
    "region_path",
    "year",
    "state",
    "version",
    "rule_set",
    "overdue",
    "created_at",
    "updated_at",
)


def seed(n: int, now: datetime) -> dict[str, str]:
    """The province's regions, three users, n households and their cases; user -> region."""
    from sqlalchemy import insert

    from workflow.extensions import db
    from workflow.models import Region
    from workflow.services import province, users
    from workflow.services.bulk import copy_rows

    rng = random.Random(20191001)
    code = "450000"
    regions = province.plan_regions(code, 110, rng)
    villages = [r for r in regions if r["level"] == "village"]
    for v in villages:  # incidence about 4-8% before any exit, as seed-demo --province
        v["rural_population"] = int(n / len(villages) * 3.5 * rng.uniform(12, 25))
    cols = ("code", "name", "level", "parent_code", "path", "rural_population")
    db.session.execute(
        insert(Region),
        [{**{c: r.get(c) for c in cols}, "is_poor": bool(r.get("is_poor"))} for r in regions],
    )
    city = next(r for r in regions if r["level"] == "city")
    county = next(r for r in regions if r["level"] == "county" and r["parent_code"] == city["code"])
    who = {"province1": code, "city1": city["code"], "county1": county["code"]}
    for name, region in who.items():
        role = name.rstrip("1")
        users.create(name, PASSWORD, role, region, name, now, commit=False)
    db.session.commit()
    states = [s for s, _ in province.SPREAD]
    weights = [w for _, w in province.SPREAD]
    cipher = "gAAAAAB" + "x" * 113  # the width of a Fernet token of an 18-digit ID number
    for start in range(0, n, CHUNK):
        homes, cases = [], []
        for i in range(start, min(n, start + CHUNK)):
            village = villages[i * len(villages) // n]  # contiguous, as a county loads
            state = rng.choices(states, weights)[0]
            homes.append(
                (
                    i + 1,
                    village["code"],
                    village["path"],
                    "1组",
                    "韦建国",
                    cipher,
                    f"{i:064x}",
                    "450102********1234",
                    "因病",
                    "exited" if state == "exited" else "poor",
                    True,
                    rng.choice((1, 2, 3, 3, 4, 4, 5, 6)),
                    now,
                )
            )
            cases.append(
                (
                    i + 1,
                    "household_exit",
                    i + 1,
                    village["code"],
                    village["path"],
                    2019,
                    state,
                    1,
                    "guangxi",
                    rng.random() < 0.02,
                    now,
                    now,
                )
            )
        copy_rows("households", HOUSEHOLD_COLUMNS, homes)
        copy_rows("cases", CASE_COLUMNS, cases)
        db.session.commit()
    return who


def previous_page(path: str) -> None:
    """The queries of the dashboard before issue #14 (counted live on every view)."""
    from sqlalchemy import func, select

    from states.rules import load_rule_set
    from workflow.extensions import db
    from workflow.models import Case, Region
    from workflow.services import regions

    inside = Case.region_path.startswith(path)
    year = db.session.scalar(select(func.max(Case.year)).where(inside))
    mine = (Case.kind == "household_exit", Case.year == year, inside)
    db.session.execute(select(Case.state, func.count()).where(*mine).group_by(Case.state)).all()
    villages = db.session.scalars(
        select(Region)
        .where(Region.path.startswith(path), Region.level == "village")
        .order_by(Region.code)
        .limit(60)
    ).all()
    by_village = select(Case.village_code, func.count()).group_by(Case.village_code)
    db.session.execute(by_village.where(*mine)).all()
    db.session.execute(by_village.where(*mine, Case.state == "exited")).all()
    for v in villages:
        regions.incidence(v)
        load_rule_set(regions.rule_set_for(v))
    db.session.execute(
        select(Case.state, func.count()).where(Case.overdue.is_(True), inside).group_by(Case.state)
    ).all()
    db.session.rollback()


def timed(fn: Callable[[], object], runs: int, warm: int = 1) -> list[float]:
    """Wall times of `runs` calls after `warm` untimed ones."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def signed_in(app, username: str):
    """A test client with a signed-in session."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 302, r.status_code
    return client


def page_getter(client, query: str, expect: str) -> Callable[[], None]:
    """A call that fetches the dashboard and checks where its figures came from."""

    def get() -> None:
        r = client.get(f"/dashboard{query}")
        assert r.status_code == 200, r.status_code
        assert expect in r.get_data(as_text=True), expect

    return get


def run(backend: str) -> None:
    """Seed, then time baselines, refreshes and pages on one backend."""
    from sqlalchemy import text

    from workflow import create_app
    from workflow.extensions import db
    from workflow.services import statistics

    with (
        tempfile.TemporaryDirectory() as tmp,
        database(Path(tmp), PG_URL if backend == "postgresql" else "", PG_SCHEMA) as url,
    ):
        app = create_app(
            {
                "INSTANCE_PATH": str(Path(tmp) / "instance"),
                "EXITFLOW_SECRET_KEY": "bench",
                "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
                "EXITFLOW_DATABASE_URL": url,
                "EXITFLOW_RATE_LIMITS": {"login": 100000, "public_read": 100000},
                "EXITFLOW_STATS_LIVE_LIMIT": 10**12,  # the baseline: every region counted live
            }
        )
        logging.getLogger().setLevel(logging.WARNING)
        try:
            with app.app_context():
                db.create_all()
                if backend == "postgresql":
                    version = db.session.scalar(text("SHOW server_version"))
                else:
                    version = db.session.scalar(text("SELECT sqlite_version()"))
                print(f"\n== {backend} {version}: {N:,} cases ==")
                t0 = time.perf_counter()
                who = seed(N, datetime.now(UTC))
                db.session.execute(text("ANALYZE"))
                db.session.commit()
                print(f"seeded in {time.perf_counter() - t0:.0f} s (bulk inserts, then ANALYZE)")
                paths = {
                    u: db.session.scalar(text("SELECT path FROM regions WHERE code = :c"), {"c": c})
                    for u, c in who.items()
                }
                db.session.remove()
            _measure(app, who, paths, statistics)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _measure(app, who: dict, paths: dict, statistics) -> None:
    from workflow import clock
    from workflow.extensions import db

    clients = {u: signed_in(app, u) for u in who}
    baseline = {}
    for user in who:
        get = page_getter(clients[user], "", "实时统计")
        baseline[user] = timed(get, BASE_RUNS)
    previous = {}
    for user in who:
        with app.app_context():
            previous[user] = timed(lambda p=paths[user]: previous_page(p), max(1, BASE_RUNS - 2), 0)
            db.session.remove()
    walls = []
    with app.app_context():
        for _ in range(2):
            t0 = time.perf_counter()
            result = statistics.refresh(clock.now())
            walls.append((time.perf_counter() - t0, result))
        db.session.remove()
    (cold, first), (warm, second) = walls
    print(
        f"refresh: {first['rows']:,} rows in {cold:.2f} s cold, {warm:.2f} s warm "
        f"(of which the swap transaction {second['swap_seconds']:.2f} s; wall time, "
        "PostgreSQL's ANALYZE included)"
    )
    app.config["EXITFLOW_STATS_LIVE_LIMIT"] = 50_000
    county = who["county1"]
    with app.app_context():
        from workflow.models import Region

        township = db.session.scalar(
            db.select(Region.code).where(Region.parent_code == county).order_by(Region.code)
        )
        db.session.remove()
    pages = [
        ("province1", "", "province page (14 cities)"),
        ("city1", "", "city page (its counties)"),
        ("county1", "", "county page (its townships)"),
        ("province1", "?page=250", "province, villages page 250 (of 250)"),
        ("city1", f"?region={county}", "city user drilling into a county"),
        ("county1", f"?region={township}", "county user drilling into a township"),
    ]
    print(f"{'page':44} {'p50':>8} {'p95':>8}   baseline live p50/p95   previous page p50")
    for user, query, label in pages:
        times = timed(page_getter(clients[user], query, "数据更新于"), RUNS, 3)
        line = f"{label:44} {percentile(times, 50):6.0f}ms {percentile(times, 95):6.0f}ms"
        if not query:
            base, prev = baseline[user], previous[user]
            line += (
                f"   {percentile(base, 50):8.0f} / {percentile(base, 95):.0f} ms"
                f"   {percentile(prev, 50):10.0f} ms"
            )
        print(line)
    token = (
        clients["province1"]
        .post("/api/v1/auth/token", json={"username": "province1", "password": PASSWORD})
        .get_json()["token"]
    )

    def api() -> None:
        r = clients["province1"].get(
            f"/api/v1/regions/{who['province1']}", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.status_code

    times = timed(api, BASE_RUNS)
    with app.app_context():
        from workflow.models import Region
        from workflow.services import regions

        province = db.session.get(Region, who["province1"])
        live = timed(lambda: regions.incidence(province), BASE_RUNS)  # as the API did before
        db.session.remove()
    print(
        f"GET /api/v1/regions/{who['province1']} (incidence from the fresh statistics): "
        f"p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms; "
        f"the live count alone (baseline): p50 {percentile(live, 50):.0f} ms"
    )


def main() -> None:
    """Run on SQLite and, with EXITFLOW_BENCH_DATABASE_URL, on PostgreSQL."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"bench_dashboard: {N:,} cases, {RUNS} runs per page; {cores} cores; "
        f"Python {sys.version.split()[0]}, SQLite library {sqlite3.sqlite_version}"
    )
    for backend in BACKENDS:
        if backend == "postgresql" and not PG_URL:
            print("postgresql: skipped (EXITFLOW_BENCH_DATABASE_URL is not set)")
            continue
        run(backend)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
