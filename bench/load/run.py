"""Load test: gunicorn (4 workers) and one `exitflow scheduler` on PostgreSQL, the province
loaded, 300 simulated officials driven by Locust; loopback only, bounded in time.

    python -m bench.load.run            # the province (110 counties, 1,000,000 households)
    python -m bench.load.run --smoke    # 3 counties, 30,000 households, 60 users, 40 s

Prints p50/p95/p99 per request type, requests per second and errors; then
checks every case's history (one audit record per version, none twice), that
the audit chains verify, and times 10 counties approving 5,000 households each
at once against one county alone (each with its own token, in threads).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PASSWORD = "Exitflow-load-2019"
# Mostly cases waiting for the county, so that ten counties can each approve 5,000.
SPREAD = [("planned", 20), ("surveyed", 10), ("township_verification", 10), ("county_review", 60)]


def main(argv: list[str] | None = None) -> int:
    """Prepare, run, report, check; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "EXITFLOW_LOAD_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--schema", default="bench_load")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    size = (
        dict(counties=23, households=60_000, users=60, seconds=40, batch=1_000)
        if args.smoke
        else dict(counties=110, households=1_000_000, users=300, seconds=180, batch=5_000)
    )
    work = Path(tempfile.mkdtemp(prefix="exitflow-load-"))
    url = f"{args.database}?options=-csearch_path%3D{args.schema}"
    env = {
        **os.environ,
        "EXITFLOW_DATABASE_URL": url,
        "EXITFLOW_INSTANCE_PATH": str(work / "instance"),
        "EXITFLOW_SECRET_KEY": secrets.token_hex(16),
        "EXITFLOW_DATA_KEY": Fernet.generate_key().decode(),
        "EXITFLOW_SCHEDULER": "off",
        "EXITFLOW_REDIS_URL": os.environ.get("EXITFLOW_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "EXITFLOW_REDIS_PREFIX": f"load-{secrets.token_hex(4)}:",
    }
    (work / "instance").mkdir(mode=0o700)
    # The whole load comes from 127.0.0.1: per-client limits would measure themselves.
    (work / "instance" / "config.py").write_text(
        "EXITFLOW_RATE_LIMITS = {'login': 10**6, 'objections': 10**6, 'public_read': 10**6}\n"
        "EXITFLOW_OBJECTION_LIMITS = {'per_client_per_window_per_day': 10**6, "
        "'per_window_per_day': 10**6}\n"
    )
    print(f"# load test on {_machine(args.database)}")
    started = time.monotonic()
    plan = _prepare(env, args.schema, size, work)
    print(f"prepared {size['households']:,} households in {time.monotonic() - started:.0f} s")
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan, ensure_ascii=False))
    env["EXITFLOW_LOAD_PLAN"] = str(plan_file)
    base = f"http://127.0.0.1:{args.port}"
    servers = [
        subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "-w",
                "4",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{args.port}",
                "--timeout",
                "600",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "gunicorn.log", "w"),
        ),
        subprocess.Popen(
            [str(VENV_BIN / "exitflow"), "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "scheduler.log", "w"),
        ),
    ]
    try:
        _wait_until_up(base)
        failed = _locust(env, base, size, work)
        failed |= _approvals(base, plan, size["batch"])
    finally:
        for process in servers:
            process.send_signal(signal.SIGTERM)
        for process in servers:
            process.wait(30)
    failed |= _integrity(env)
    print("result:", "targets missed" if failed else "all targets met")
    return 1 if failed else 0


def _machine(database: str) -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(database)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    engine.dispose()
    return f"PostgreSQL {version}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _prepare(env: dict, schema: str, size: dict, work: Path) -> dict:
    """A fresh schema, the province, the load's own accounts, and windows for the public."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(env["EXITFLOW_DATABASE_URL"].split("?")[0])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    os.environ.update({k: env[k] for k in ("EXITFLOW_DATA_KEY", "EXITFLOW_SECRET_KEY")})
    from flask_migrate import upgrade
    from sqlalchemy import select

    from workflow import clock, create_app
    from workflow.extensions import db
    from workflow.models import Region
    from workflow.services import province, users

    app = create_app(
        {
            "EXITFLOW_DATABASE_URL": env["EXITFLOW_DATABASE_URL"],
            "INSTANCE_PATH": str(work / "instance"),
        }
    )
    with app.app_context():
        upgrade()
        now = clock.now()
        province.seed(size["counties"], size["households"], PASSWORD, now, spread=SPREAD)
        regions = db.session.execute(
            select(Region.code, Region.level, Region.parent_code).order_by(Region.code)
        ).all()
        townships = [r.code for r in regions if r.level == "township"][:20]
        villages = [r.code for r in regions if r.level == "village" and r.parent_code in townships]
        accounts: dict[str, list[str]] = {"village": [], "township": [], "county": []}
        for i, code in enumerate(villages[:150], start=1):
            users.create(f"loadvillage{i}", PASSWORD, "village", code, None, now, commit=False)
            accounts["village"].append(f"loadvillage{i}")
        for i, code in enumerate(townships, start=1):
            for k in (1, 2, 3):
                name = f"loadtownship{i}_{k}"
                users.create(name, PASSWORD, "township", code, None, now, commit=False)
                accounts["township"].append(name)
        db.session.commit()
        accounts["county"] = [f"county{i}" for i in range(2, 12)]
        accounts["dashboard"] = ["province1", "city1", "county1", "township1"]
        # Windows for the public: a village clerk posts one per village over surveyed
        # and appraised cases of its village (the services drive them there).
        windows = _windows(villages[:10], now)
        indicators = sorted(province_indicators())
        db.session.remove()
    return {
        "password": PASSWORD,
        "accounts": accounts,
        "windows": windows,
        "indicators": indicators,
        "approve_batch": size["batch"],
        "county_start_after": 120,
        "first_county": "county1",
    }


def province_indicators() -> list[str]:
    """The household indicator codes of the province's rule set."""
    from states.rules import load_rule_set

    return list(load_rule_set("guangxi").household_indicator_codes())


def _windows(villages: list[str], now: datetime) -> list[dict]:
    from sqlalchemy import select

    from workflow.extensions import db
    from workflow.models import Case
    from workflow.services import publicity, transitions, users
    from workflow.services.actors import from_user

    out = []
    for n, village in enumerate(villages, start=1):
        clerk = users.create(f"loadposter{n}", PASSWORD, "village", village, None, now)
        actor = from_user(clerk)
        ids = list(
            db.session.scalars(
                select(Case.id)
                .where(Case.village_code == village, Case.state == "planned")
                .limit(8)
            )
        )
        if not ids:
            continue
        survey = {
            "surveyed_on": "2019-10-15",
            "surveyors": ["韦组长", "覃队员"],
            "income_per_capita": 6500.0,
            "indicators": {code: True for code in province_indicators()},
        }
        transitions.fire_many("submit_survey", ids, actor, survey, now)
        db.session.commit()
        appraisal = {"meeting_on": "2019-10-20", "present": 30, "votes_for": 25, "votes_against": 2}
        transitions.fire_many("appraise", ids, actor, appraisal, now)
        db.session.commit()
        contact = {"phone": "0776-1234567", "address": "村委会"}
        window = publicity.post(actor, village, ids, contact, None, now)
        db.session.commit()
        out.append({"id": window.id, "case_ids": ids})
    return out


def _wait_until_up(base: str) -> None:
    for _ in range(120):
        try:
            if requests.get(f"{base}/login", timeout=10).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not start (see its log)")


def _locust(env: dict, base: str, size: dict, work: Path) -> bool:
    """Run the mix; print percentiles per request type; True when a target is missed."""
    prefix = work / "locust"
    subprocess.run(
        [
            str(VENV_BIN / "locust"),
            "-f",
            str(ROOT / "bench" / "load" / "locustfile.py"),
            "--headless",
            "-u",
            str(size["users"]),
            "-r",
            str(max(1, size["users"] // 60)),  # a one-minute morning sign-in, not a storm
            "-t",
            f"{size['seconds']}s",
            "--host",
            base,
            "--csv",
            str(prefix),
            "--only-summary",
            "--stop-timeout",
            "120",
        ],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "locust.log", "w"),
    )
    rows = list(csv.DictReader(open(f"{prefix}_stats.csv", encoding="utf-8")))
    failures = list(csv.DictReader(open(f"{prefix}_failures.csv", encoding="utf-8")))
    print(f"\n{'request':42} {'n':>7} {'fail':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'rps':>6}")
    missed = False
    for r in rows:
        print(
            f"{r['Name'][:42]:42} {r['Request Count']:>7} {r['Failure Count']:>5} "
            f"{r['50%']:>7} {r['95%']:>7} {r['99%']:>7} {float(r['Requests/s']):6.1f}"
        )
        single = r["Name"].startswith(("GET /cases", "POST survey", "POST appraise", "GET /cases/"))
        if single and r["Name"] != "Aggregated" and float(r["95%"] or 0) > 300:
            print(f"  target missed: p95 of {r['Name']} above 300 ms")
            missed = True
    server_errors = sum(
        int(f["Occurrences"])
        for f in failures
        if re.search(r"\b5\d\d (Server Error|INTERNAL)", f["Error"])
    )
    print(f"5xx: {server_errors}; failures by kind:")
    for f in failures:
        print(f"  {f['Occurrences']:>6} {f['Method']} {f['Name']}: {f['Error'][:100]}")
    return missed or server_errors > 0


def _approvals(base: str, plan: dict, batch: int) -> bool:
    """One county approving `batch` alone, then ten at once: within 2x is the target."""

    def token(name):
        answer = requests.post(
            f"{base}/api/v1/auth/token", json={"username": name, "password": PASSWORD}, timeout=30
        )
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def ids_of(headers):
        ids, page = [], 1
        while len(ids) < batch:
            items = requests.get(
                f"{base}/api/v1/cases?state=county_review&per_page=1000&page={page}",
                headers=headers,
                timeout=60,
            ).json()["items"]
            if not items:
                break
            ids += [c["id"] for c in items]
            page += 1
        return ids[:batch]

    def approve(headers, ids, out, key):
        t = time.monotonic()
        answer = requests.post(
            f"{base}/api/v1/cases/batch-transitions",
            headers=headers,
            json={"trigger": "approve", "case_ids": ids, "data": {}},
            timeout=900,
        )
        out[key] = (
            time.monotonic() - t,
            answer.status_code,
            len(answer.json().get("succeeded", [])),
        )

    counties = [f"county{i}" for i in range(12, 23)]
    prepared = [(name, token(name)) for name in counties]
    prepared = [(name, h, ids_of(h)) for name, h in prepared]
    prepared = [p for p in prepared if len(p[2]) == batch]
    if len(prepared) < 11:
        print(f"approvals: only {len(prepared)} counties hold {batch} cases; comparison skipped")
        return False
    out: dict = {}
    approve(prepared[0][1], prepared[0][2], out, "alone")
    threads = [
        threading.Thread(target=approve, args=(h, ids, out, name))
        for name, h, ids in prepared[1:11]
    ]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    together = time.monotonic() - t
    alone = out["alone"][0]
    ok = all(v[1] == 200 and v[2] == batch for v in out.values())
    print(
        f"\napprove {batch:,}: one county alone {alone:.2f} s; ten at once {together:.2f} s "
        f"({together / alone:.2f}x; target <= 2x); every case approved: {ok}"
    )
    return not ok or together > 2 * alone


def _integrity(env: dict) -> bool:
    """Every case's history is whole (one record per version) and the chains verify."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(env["EXITFLOW_DATABASE_URL"])
    with engine.connect() as conn:
        broken = conn.exec_driver_sql(
            "SELECT count(*) FROM cases c LEFT JOIN (SELECT case_id, count(*) n, "
            "count(DISTINCT case_version) d, max(case_version) m FROM audit_records "
            "WHERE case_id IS NOT NULL GROUP BY case_id) a ON a.case_id = c.id "
            "WHERE a.n IS NULL OR a.n <> c.version OR a.d <> a.n OR a.m <> c.version"
        ).scalar()
        moved = conn.exec_driver_sql("SELECT count(*) FROM cases WHERE version > 1").scalar()
    engine.dispose()
    verified = subprocess.run(
        [str(VENV_BIN / "exitflow"), "verify-audit", "--full"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    print(
        f"\nintegrity: {moved:,} cases moved; {broken} with a lost or duplicated transition; "
        f"verify-audit: {verified.stdout.strip() or verified.stderr.strip()}"
    )
    return broken > 0 or verified.returncode != 0


if __name__ == "__main__":
    sys.exit(main())
