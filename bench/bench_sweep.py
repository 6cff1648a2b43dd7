"""One sweep closing many due publicity windows at once, at province scale.

Every window is due at the same midnight; the sweep must close them all within
120 s of it (issue #14: 10,000 windows holding 1,000,000 cases), never a second
early. The bench seeds a province (counties of 10 townships of 10 villages, one
village committee per village, each village's households) with bulk inserts,
drives one village's cases through the real survey and appraisal services and
gives every other case the same step data, posts one window per village through
`publicity.post`, closes the first EXITFLOW_BENCH_BASELINE windows one by one
(`close_window`: the per-window path, the figure before issue #14) and then
times one `publicity.sweep` closing the other EXITFLOW_BENCH_WINDOWS.

Environment:
  EXITFLOW_BENCH_WINDOWS       windows the timed sweep closes (1000)
  EXITFLOW_BENCH_PER_WINDOW    cases listed in each window (100)
  EXITFLOW_BENCH_BASELINE      windows closed one by one first, as the baseline (100)
  EXITFLOW_BENCH_DATABASE_URL  a PostgreSQL URL (else a temporary SQLite file); its schema
                               (`?options=-csearch_path%3Dbench_sweep` by default) is
                               dropped and created again, and dropped at the end
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import cores, database, describe_database

WINDOWS = int(os.environ.get("EXITFLOW_BENCH_WINDOWS", "1000"))
PER_WINDOW = int(os.environ.get("EXITFLOW_BENCH_PER_WINDOW", "100"))
BASELINE = int(os.environ.get("EXITFLOW_BENCH_BASELINE", "100"))
DATABASE_URL = os.environ.get("EXITFLOW_BENCH_DATABASE_URL", "")
PG_SCHEMA = "bench_sweep"
VILLAGES_PER_TOWNSHIP = TOWNSHIPS_PER_COUNTY = 10
COUNTIES_PER_CITY = 20
YEAR = 2019
SURVEY = {
    "surveyed_on": "2019-10-15",
    "surveyors": ["韦组长", "覃队员"],
    "income_per_capita": 5200.0,
    "indicators": dict.fromkeys(
        (
            "food",
            "clothing",
            "compulsory_education",
            "basic_medical",
            "housing_safety",
            "safe_water",
            "electricity",
            "road",
            "tv",
        ),
        True,
    ),
}
APPRAISAL = {
    "meeting_on": "2019-10-20",
    "present": 31,
    "votes_for": 29,
    "votes_against": 1,
    "representatives": 35,
}


def at(day: int, hour: int = 9) -> datetime:
    """A moment of October 2019, Asia/Shanghai."""
    from states.calendar import SHANGHAI

    return datetime(YEAR, 10, day, hour, tzinfo=SHANGHAI)


def stored(moment: datetime, dialect: str):
    """A UTC moment as the driver takes it (SQLAlchemy's SQLite DateTime stores naive text)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else utc


def seed(villages: int) -> list[tuple[str, list[int]]]:
    """The province, a clerk per village, `PER_WINDOW` appraised cases per village.

    Returns (village code, case ids) per village, in order.
    """
    from sqlalchemy import func, select, text

    from workflow.extensions import db
    from workflow.models import Case, User
    from workflow.services import transitions
    from workflow.services.actors import from_user
    from workflow.services.bulk import copy_rows

    dialect = db.engine.dialect.name
    now = stored(at(8), dialect)
    counties = -(-villages // (VILLAGES_PER_TOWNSHIP * TOWNSHIPS_PER_COUNTY))
    regions = [("450000", "广西壮族自治区", "province", None, "/450000/", None, True, "guangxi")]
    plan: list[tuple[str, str]] = []  # (village code, path)
    for c in range(counties):
        city = f"45{c // COUNTIES_PER_CITY + 1:02d}00"
        county = f"{city[:4]}{c % COUNTIES_PER_CITY + 1:02d}"
        if c % COUNTIES_PER_CITY == 0:
            regions.append((city, f"第{city}市", "city", "450000", f"/450000/{city}/", None, False))
        county_path = f"/450000/{city}/{county}/"
        regions.append((county, f"第{county}县", "county", city, county_path, None, True))
        for t in range(TOWNSHIPS_PER_COUNTY):
            township = f"{county}{100 + t:03d}000"
            township_path = f"{county_path}{township}/"
            regions.append(
                (township, f"第{t + 1}乡", "township", county, township_path, None, False)
            )
            for v in range(VILLAGES_PER_TOWNSHIP):
                if len(plan) == villages:
                    break
                code = f"{township[:9]}{200 + v:03d}"
                regions.append(
                    (
                        code,
                        f"第{v + 1}村",
                        "village",
                        township,
                        f"{township_path}{code}/",
                        2000,
                        True,
                    )
                )
                plan.append((code, f"{township_path}{code}/"))
    region_columns = ("code", "name", "level", "parent_code", "path", "rural_population")
    copy_rows(
        "regions",
        (*region_columns, "is_poor", "remote", "rule_set"),
        [(*r[:7], False, r[7] if len(r) > 7 else None) for r in regions],
    )
    copy_rows(
        "users",
        (
            "id",
            "username",
            "display_name",
            "password_hash",
            "role",
            "region_code",
            "region_path",
            "active",
            "failed_logins",
            "created_at",
        ),
        [
            (i, f"village{i}", f"第{i}村村委文书", "!", "village", code, path, True, 0, now)
            for i, (code, path) in enumerate(plan, start=1)
        ],
    )
    households, cases, by_village = [], [], []
    n = 0
    for code, path in plan:
        ids = list(range(n + 1, n + PER_WINDOW + 1))
        n += PER_WINDOW
        by_village.append((code, ids))
        for i in ids:
            households.append(
                (
                    i,
                    code,
                    path,
                    f"{i % 9 + 1}组",
                    "李建国",
                    "!",
                    f"{i:064x}",
                    "4510**",
                    "poor",
                    True,
                )
                + (i % 6 + 1, now)
            )
            state = "planned" if code == plan[0][0] else "appraised"
            cases.append(
                (i, "household_exit", i, code, path, YEAR, state, 1, "guangxi", False, now, now)
            )
    copy_rows(
        "households",
        (
            "id",
            "village_code",
            "region_path",
            "group",
            "head_name",
            "head_id_cipher",
            "head_id_hash",
            "head_id_masked",
            "status",
            "registered",
            "size",
            "created_at",
        ),
        households,
    )
    copy_rows(
        "cases",
        (
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
        ),
        cases,
    )
    # The first village's cases go through the real services; every other case
    # gets the step data they produced (the sweep reads and rewrites it).
    first = by_village[0][1]
    copy_rows("case_data", ("case_id", "data"), [(i, "{}") for i in first])
    clerk = from_user(db.session.get(User, 1))
    for trigger, payload, day in (("submit_survey", SURVEY, 15), ("appraise", APPRAISAL, 20)):
        outcome = transitions.fire_many(trigger, first, clerk, payload, at(day))
        assert not outcome.failed, outcome.failed[:3]
    template = json.dumps(db.session.get(Case, first[0]).data, ensure_ascii=False)
    copy_rows(
        "case_data", ("case_id", "data"), [(i, template) for i in range(first[-1] + 1, n + 1)]
    )
    if dialect == "postgresql":
        for table in ("users", "households", "cases"):
            db.session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n + villages})")
            )
    db.session.commit()
    if dialect == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    assert db.session.scalar(select(func.count()).where(Case.state == "appraised")) == n
    return by_village


def main() -> None:
    """Seed, post the windows through the service, close the baseline ones one by one, sweep."""
    from sqlalchemy import event, func, select

    from workflow import create_app
    from workflow.clock import as_utc
    from workflow.extensions import db
    from workflow.models import AuditRecord, Case, PublicityWindow, User
    from workflow.services import publicity
    from workflow.services.actors import from_user

    villages = WINDOWS + BASELINE
    with tempfile.TemporaryDirectory() as tmp, database(Path(tmp), DATABASE_URL, PG_SCHEMA) as url:
        app = create_app(
            {
                "INSTANCE_PATH": str(Path(tmp) / "instance"),
                "EXITFLOW_DATABASE_URL": url,
                "EXITFLOW_SECRET_KEY": "bench",
                "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
            }
        )
        logging.getLogger().setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            on = describe_database()
            t0 = time.perf_counter()
            plan = seed(villages)
            seed_time = time.perf_counter() - t0
            clerks = {u.region_code: from_user(u) for u in db.session.scalars(select(User))}
            t0 = time.perf_counter()
            latest = None
            for village, ids in plan:
                window = publicity.post(
                    clerks[village], village, ids, {"phone": "1", "address": "村委会"}, None, at(21)
                )
                latest = max(latest or window.closes_at, window.closes_at)
            post_time = time.perf_counter() - t0
            due = as_utc(latest) + timedelta(seconds=1)
            first = list(
                db.session.scalars(
                    select(PublicityWindow.id).order_by(PublicityWindow.id).limit(BASELINE)
                )
            )
            db.session.commit()
            statements = []

            def count(*_args, **_kwargs):
                statements.append(1)

            event.listen(db.engine, "before_cursor_execute", count)
            t0, c0 = time.perf_counter(), time.process_time()
            base_cases = sum(publicity.close_window(w, due) or 0 for w in first)
            base_time, base_cpu = time.perf_counter() - t0, time.process_time() - c0
            base_queries = len(statements)
            statements.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            result = publicity.sweep(due)
            sweep_time, sweep_cpu = time.perf_counter() - t0, time.process_time() - c0
            queries = len(statements)
            event.remove(db.engine, "before_cursor_execute", count)
            db.session.rollback()
            waiting = db.session.scalar(
                select(func.count()).where(Case.state == "appraised", Case.window_id.is_not(None))
            )
            moved = db.session.scalar(
                select(func.count()).where(Case.state == "township_verification")
            )
            records = db.session.scalar(
                select(func.count()).where(AuditRecord.trigger == "close_window")
            )
            db.session.remove()
            db.engine.dispose()
    cases = result["cases_advanced"]
    total = villages * PER_WINDOW
    ok = (
        result["closed"] == WINDOWS
        and not result["errors"]
        and moved == records == total
        and not waiting
    )
    print(f"sweep bench on {on}, {cores()} cores")
    print(
        f"  seeding {total} cases: {seed_time:.1f} s; posting {villages} windows of "
        f"{PER_WINDOW} cases through publicity.post: {post_time:.1f} s "
        f"({post_time / villages * 1000:.0f} ms a window)"
    )
    base_rate = base_cases / base_time if base_time else 0
    if first:
        print(
            f"  baseline, {len(first)} windows closed one by one (close_window): "
            f"{base_time:.2f} s (this process's CPU: {base_cpu:.2f} s), "
            f"{len(first) / base_time:.0f} windows/s, {base_rate:.0f} cases/s, "
            f"{base_queries / len(first):.1f} queries per window"
        )
    rate = cases / sweep_time if sweep_time else 0
    print(
        f"  one sweep closing {result['closed']} windows holding {cases} cases: "
        f"{sweep_time:.2f} s (this process's CPU: {sweep_cpu:.2f} s), "
        f"{result['closed'] / sweep_time:.0f} windows/s, {rate:.0f} cases/s, "
        f"{queries / max(result['closed'], 1):.2f} queries per window"
        + (f", {rate / base_rate:.1f}x the baseline" if base_rate else "")
    )
    print(
        f"  check: {'ok' if ok else 'FAILED'} ({moved} cases advanced, {records} close_window "
        f"audit records, {len(result['errors'])} errors)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
