"""`exitflow doctor`: what the machine and the configuration must provide, one check a line."""

from __future__ import annotations

import ctypes.util
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select, text

from states.calendar import SHANGHAI, HolidayDataMissing, is_working_day
from workflow import personal_data
from workflow.config import instance_permission_problems
from workflow.extensions import db
from workflow.models import Household, SchedulerRun

MIN_FREE_BYTES = 1 << 30


@dataclass
class Check:
    """One line of the report: ok, warn (works, but slower or at risk) or fail."""

    name: str
    status: str
    detail: str


def run(now: datetime) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    checks = [_database(), _migrations(), _data_key()]
    checks += [_fonts(), _subsetter(), _holidays(now), _scheduler(now)]
    checks += [_instance(), _disk()]
    return checks


def _database() -> Check:
    try:
        db.session.execute(text("SELECT 1"))
        return Check("database", "ok", db.engine.url.render_as_string(hide_password=True))
    except Exception as err:  # noqa: BLE001 - reported, never raised
        return Check("database", "fail", f"unreachable: {str(err).splitlines()[0]}")
    finally:
        db.session.rollback()


def _migrations() -> Check:
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate  # noqa: F401 - the extension is configured

    directory = current_app.extensions["migrate"].directory
    config = current_app.extensions["migrate"].migrate.get_config(directory)
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        current = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001
        db.session.rollback()
        return Check("migrations", "fail", "no schema: run `exitflow init-db`")
    if current != head:
        return Check(
            "migrations", "fail", f"at {current}, code needs {head}: run `exitflow init-db`"
        )
    return Check("migrations", "ok", f"current ({head})")


def _data_key() -> Check:
    cipher = db.session.scalar(select(Household.head_id_cipher).limit(1))
    if cipher is None:
        return Check("data key", "ok", "present; no stored ID number to try it on yet")
    try:
        personal_data.decrypt(cipher)
    except ValueError:
        return Check(
            "data key", "fail", "cannot decrypt the stored ID numbers: wrong EXITFLOW_DATA_KEY?"
        )
    return Check(
        "data key", "ok", f"decrypts the stored ID numbers ({personal_data.fingerprint()})"
    )


def _fonts() -> Check:
    if not shutil.which("fc-list"):
        return Check("CJK fonts", "fail", "fontconfig missing: apt-get install fontconfig")
    found = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    ).stdout
    families = sorted({f.split(",")[0].strip() for f in found.splitlines() if f.strip()})
    if not families:
        return Check(
            "CJK fonts",
            "fail",
            "no Chinese font: apt-get install fonts-noto-cjk (notices would print boxes)",
        )
    extension_b = subprocess.run(
        ["fc-list", ":charset=20bb7", "family"], capture_output=True, text=True, check=False
    ).stdout.strip()
    detail = ", ".join(families[:3]) + (
        "; Extension B covered" if extension_b else "; no font covers Extension B (𠮷)"
    )
    return Check("CJK fonts", "ok" if extension_b else "warn", detail)


def _subsetter() -> Check:
    if ctypes.util.find_library("harfbuzz-subset"):
        return Check("font subsetting", "ok", "HarfBuzz (libharfbuzz-subset0)")
    return Check(
        "font subsetting",
        "warn",
        "no libharfbuzz-subset0: WeasyPrint falls back to fontTools (a 200-row notice takes "
        "about 6 s instead of 1 s): apt-get install libharfbuzz-subset0",
    )


def _holidays(now: datetime) -> Check:
    year = now.astimezone(SHANGHAI).year
    missing = []
    for y in (year, year + 1):
        try:
            is_working_day(date(y, 12, 31))
        except HolidayDataMissing:
            missing.append(y)
    if missing:
        files = ", ".join(f"instance/holidays/{y}.toml" for y in missing)
        return Check(
            "holiday data",
            "warn" if year not in missing else "fail",
            f"no State Council schedule for {missing}: add {files} (year, holidays, workdays)",
        )
    return Check("holiday data", "ok", f"{year} and {year + 1}")


def _scheduler(now: datetime) -> Check:
    last = db.session.scalar(
        select(SchedulerRun.last_run_at).where(SchedulerRun.job == "sweep").limit(1)
    )
    if last is None:
        return Check("scheduler", "warn", "has never run: start `exitflow scheduler`")
    from workflow.clock import as_utc

    age = (now - as_utc(last)).total_seconds()
    seconds = float(current_app.config.get("EXITFLOW_SWEEP_SECONDS") or 30)
    holder = _lock_holder()
    if age > 4 * seconds:
        return Check("scheduler", "fail", f"last sweep {age:.0f} s ago; {holder}")
    return Check("scheduler", "ok", f"last sweep {age:.0f} s ago; {holder}")


def _lock_holder() -> str:
    if db.engine.dialect.name == "postgresql":
        from workflow.scheduler import SCHEDULER_LOCK_KEY

        row = db.session.execute(
            text(
                "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN "
                "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.objid = :k AND l.granted"
            ),
            {"k": SCHEDULER_LOCK_KEY},
        ).first()
        db.session.rollback()
        return f"lock held by backend {row.pid}" if row else "nobody holds the scheduler lock"
    path = Path(current_app.instance_path) / "scheduler.lock"
    pid = path.read_text().strip() if path.exists() else ""
    return f"lock file names process {pid}" if pid else "no scheduler lock file"


def _instance() -> Check:
    problems = instance_permission_problems(Path(current_app.instance_path))
    if problems:
        return Check("instance permissions", "fail", "; ".join(problems))
    return Check("instance permissions", "ok", "folder 0700, keys and database 0600")


def _disk() -> Check:
    free = shutil.disk_usage(current_app.instance_path).free
    status = "ok" if free >= MIN_FREE_BYTES else "fail"
    return Check("free disk", status, f"{free / (1 << 30):.1f} GiB free in instance/")
