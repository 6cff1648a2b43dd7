"""Dashboard statistics: materialized per-region counts, refreshed set-based, read by pages.

A page never counts the `cases` table. The scheduler (every EXITFLOW_STATS_SECONDS,
60 by default) and `exitflow seed-demo` recompute `region_stats`: one GROUP BY over
cases joined to households (and one over the register's households) at the regions
the rows carry, rolled up by parent one level at a time, all in SQL into temporary
tables while holding no write lock; then one short transaction replaces the table's
rows (readers see the old rows until it commits). Transitions never touch these
rows: a counter per region would serialise every county's writes on the province's
row. When the snapshot is missing or older than two intervals, a region with fewer
than EXITFLOW_STATS_LIVE_LIMIT cases (50,000) is counted live instead; a larger one
shows the stale figures with their time, or none yet.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, select, text

from states.rules import load_rule_set
from workflow import clock
from workflow.database import end_transaction, reading
from workflow.errors import ConfigurationError, NotFound
from workflow.extensions import db
from workflow.models import Case, Household, Region, RegionStat, StatsSnapshot
from workflow.models.regions import LEVELS
from workflow.services.actors import Actor
from workflow.services.regions import rule_set_for

logger = logging.getLogger(__name__)

SNAPSHOT = "region_stats"
STATS_LOCK_KEY = 7_310_004  # PostgreSQL advisory lock of the swap (7_310_001-3 are taken)
DEFAULT_SECONDS = 60
DEFAULT_LIVE_LIMIT = 50_000
PAGE_SIZE = 60
CASE_KINDS = ("household_exit", "village_exit", "county_exit")
COLUMNS = "region_code, kind, year, state, level, parent_code, cases, households, people, overdue"

# The leaves: cases by region, kind, year and state (people from their households), the
# register's households by status, the villages' rural population; each at the region
# whose path it carries. {hint} keeps SQLite on a table scan (the index on region_path
# costs a random row read per case).
_WORK = """CREATE TEMPORARY TABLE stats_work (
    region_code VARCHAR(12), kind VARCHAR(20), year INTEGER, state VARCHAR(32),
    level VARCHAR(10), parent_code VARCHAR(12),
    cases BIGINT, households BIGINT, people BIGINT, overdue BIGINT)"""
_LEAVES = """
INSERT INTO stats_work
SELECT r.code, leaf.kind, leaf.year, leaf.state, r.level, r.parent_code,
       leaf.cases, leaf.households, leaf.people, leaf.overdue
FROM (
    SELECT c.region_path AS path, c.kind, c.year, c.state, COUNT(*) AS cases,
           COUNT(h.id) AS households, COALESCE(SUM(h.size), 0) AS people,
           SUM(CASE WHEN c.overdue THEN 1 ELSE 0 END) AS overdue
    FROM cases c{hint} LEFT JOIN households h ON h.id = c.household_id
    GROUP BY c.region_path, c.kind, c.year, c.state
    UNION ALL
    SELECT h.region_path, 'register', 0, h.status, 0, COUNT(*), COALESCE(SUM(h.size), 0), 0
    FROM households h{hint} WHERE h.registered
    GROUP BY h.region_path, h.status
) leaf JOIN regions r ON r.path = leaf.path
UNION ALL
SELECT code, 'population', 0, 'rural', level, parent_code, 0, 0, rural_population, 0
FROM regions WHERE level = 'village' AND rural_population IS NOT NULL
"""
# One level up at a time (a few hundred thousand rows at most, never the cases again).
_ROLL_UP = """
INSERT INTO stats_work
SELECT p.code, w.kind, w.year, w.state, p.level, p.parent_code,
       SUM(w.cases), SUM(w.households), SUM(w.people), SUM(w.overdue)
FROM stats_work w JOIN regions p ON p.code = w.parent_code
WHERE w.level = :level
GROUP BY p.code, p.level, p.parent_code, w.kind, w.year, w.state
"""
# A region's rural population is its own figure, else the sum of its villages'.
_NEXT = """
CREATE TEMPORARY TABLE region_stats_next AS
SELECT region_code, kind, year, state, level, parent_code, SUM(cases) AS cases,
       SUM(households) AS households, SUM(people) AS people, SUM(overdue) AS overdue
FROM stats_work WHERE kind <> 'population'
GROUP BY region_code, kind, year, state, level, parent_code
UNION ALL
SELECT r.code, 'population', 0, 'rural', r.level, r.parent_code,
       0, 0, COALESCE(r.rural_population, v.people), 0
FROM regions r LEFT JOIN (
    SELECT region_code, SUM(people) AS people FROM stats_work
    WHERE kind = 'population' GROUP BY region_code
) v ON v.region_code = r.code
WHERE COALESCE(r.rural_population, v.people) IS NOT NULL
"""
_TEMPORARY = ("stats_work", "region_stats_next")


def settings(config) -> tuple[float, int]:
    """(refresh interval in seconds, live-count limit in cases) from the app's config.

    EXITFLOW_STATS_SECONDS (60) and EXITFLOW_STATS_LIVE_LIMIT (50,000), both positive.
    """
    try:
        seconds = float(config.get("EXITFLOW_STATS_SECONDS") or DEFAULT_SECONDS)
        limit = int(config.get("EXITFLOW_STATS_LIVE_LIMIT") or DEFAULT_LIVE_LIMIT)
    except (TypeError, ValueError):
        seconds = limit = 0
    if not (seconds > 0 and limit > 0 and math.isfinite(seconds)):
        raise ConfigurationError(
            "EXITFLOW_STATS_SECONDS 与 EXITFLOW_STATS_LIVE_LIMIT 须为正数,"
            f"而不是 {config.get('EXITFLOW_STATS_SECONDS')!r} / "
            f"{config.get('EXITFLOW_STATS_LIVE_LIMIT')!r}"
        )
    return seconds, limit


def refresh(now: datetime) -> dict:
    """Recompute region_stats as of `now` and swap it in; returns rows and seconds."""
    end_transaction()  # the caller's session must not hold SQLite's write lock meanwhile
    started = time.perf_counter()
    with db.engine.connect() as conn:  # one connection: the temporary tables live in it
        postgres = conn.dialect.name == "postgresql"
        try:
            with reading():  # SQLite: a deferred transaction, no write lock while counting
                with conn.begin():
                    _count(conn, postgres)
            counted = time.perf_counter() - started
            with conn.begin():
                if postgres:  # a second refresh (seed-demo beside the scheduler) waits
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STATS_LOCK_KEY})
                conn.execute(text("DELETE FROM region_stats"))
                rows = conn.execute(
                    text(
                        f"INSERT INTO region_stats ({COLUMNS}) "
                        f"SELECT {COLUMNS} FROM region_stats_next "
                        "ORDER BY region_code, kind, year, state"  # the key's order: fewer page splits
                    )
                ).rowcount
                seconds = time.perf_counter() - started
                conn.execute(StatsSnapshot.__table__.delete().where(StatsSnapshot.name == SNAPSHOT))
                conn.execute(
                    StatsSnapshot.__table__.insert().values(
                        name=SNAPSHOT, as_of=now, seconds=seconds, rows=rows
                    )
                )
            if postgres:
                # Fresh planner statistics: without them (a new table, or before
                # autovacuum's turn) a page's IN list of 70 regions becomes a table scan.
                with conn.begin():
                    conn.execute(text("ANALYZE region_stats"))
        finally:
            with reading(), conn.begin():
                for table in _TEMPORARY:
                    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    logger.info("statistics refreshed: %d rows in %.2f s (%.2f s counting)", rows, seconds, counted)
    return {"rows": rows, "seconds": round(seconds, 3), "swap_seconds": round(seconds - counted, 3)}


def _count(conn, postgres: bool) -> None:
    """Fill the temporary region_stats_next: leaves, then one level up at a time."""
    if postgres:
        # One snapshot for every statement (SQLite's read transaction is one already).
        # JIT compiling these plans costs more than it saves; in-memory hash
        # aggregates instead of sorts spilled to disk.
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(text("SET LOCAL jit = off"))
        conn.execute(text("SET LOCAL work_mem = '64MB'"))
    for table in _TEMPORARY:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    conn.execute(text(_WORK))
    conn.execute(text(_LEAVES.format(hint="" if postgres else " NOT INDEXED")))
    for level in reversed(LEVELS[1:]):
        conn.execute(text(_ROLL_UP), {"level": level})
    conn.execute(text(_NEXT))


def snapshot() -> StatsSnapshot | None:
    """The last refresh (as_of, cost), or None before the first."""
    return db.session.get(StatsSnapshot, SNAPSHOT)


def recent_register(region: Region) -> tuple[int, int, int] | None:
    """(poor people, poor households, rural population) from a fresh snapshot, else None.

    Fresh: refreshed at most two EXITFLOW_STATS_SECONDS before now. The region's own
    rural population, when it has one, wins over the snapshot's (as in the live count).
    """
    seconds, _limit = settings(current_app.config)
    snap = snapshot()
    if snap is None or clock.now() - snap.as_of > timedelta(seconds=2 * seconds):
        return None
    f = figures(stored_rows([region.code], 0), None)[region.code]
    population = region.rural_population
    if population is None:
        population = f["population"] or 0
    return f["poor_people"], f["poor_households"], population


def scoped_region(actor: Actor, code: str | None) -> Region:
    """The actor's region, or a region inside its subtree; NotFound otherwise."""
    region = db.session.get(Region, code or actor.region_code or "")
    if region is None or not actor.covers(region.path):
        raise NotFound(f"地区 {code} 不存在或不在本辖区内")
    return region


def stored_rows(codes: list[str], year: int | None = None) -> list[tuple]:
    """Materialized rows of these regions (with `year`: that year's and the yearless ones)."""
    query = select(
        RegionStat.region_code,
        RegionStat.kind,
        RegionStat.year,
        RegionStat.state,
        RegionStat.cases,
        RegionStat.households,
        RegionStat.people,
        RegionStat.overdue,
    ).where(RegionStat.region_code.in_(codes))
    if year is not None:
        query = query.where(RegionStat.year.in_((0, year)))
    return [tuple(r) for r in db.session.execute(query)]


def live_rows(region: Region, codes: list[str]) -> list[tuple]:
    """The same rows as stored_rows, counted now from the region's subtree (small regions)."""
    wanted = set(codes)
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def add(path: str, key: tuple, values) -> None:
        for code in path.strip("/").split("/"):
            if code in wanted:
                row = out[(code, *key)]
                for i, v in enumerate(values):
                    row[i] += int(v or 0)

    inside = Case.region_path.startswith(region.path)
    cases = db.session.execute(
        select(
            Case.region_path,
            Case.kind,
            Case.year,
            Case.state,
            func.count(),
            func.count(Household.id),
            func.sum(Household.size),
            func.sum(case((Case.overdue.is_(True), 1), else_=0)),
        )
        .outerjoin(Household, Household.id == Case.household_id)
        .where(inside)
        .group_by(Case.region_path, Case.kind, Case.year, Case.state)
    )
    for path, kind, year, state, *values in cases:
        add(path, (kind, year, state), values)
    register = db.session.execute(
        select(Household.region_path, Household.status, func.count(), func.sum(Household.size))
        .where(Household.region_path.startswith(region.path), Household.registered.is_(True))
        .group_by(Household.region_path, Household.status)
    )
    for path, status, households, people in register:
        add(path, ("register", 0, status), (0, households, people, 0))
    tree = db.session.execute(
        select(Region.code, Region.path, Region.level, Region.rural_population).where(
            Region.path.startswith(region.path)
        )
    ).all()
    summed: dict[str, int] = defaultdict(int)
    for _code, path, level, population in tree:
        if level == "village" and population is not None:
            for code in path.strip("/").split("/"):
                summed[code] += population
    for code, _path, _level, own in tree:
        people = own if own is not None else summed.get(code)
        if code in wanted and people is not None:
            out[(code, "population", 0, "rural")] = [0, 0, people, 0]
    return [(*key, *values) for key, values in out.items()]


def _blank() -> dict:
    return {
        "progress": defaultdict(int),
        "planned": 0,
        "exited": 0,
        "rate": None,
        "poor_people": 0,
        "poor_households": 0,
        "population": None,
        "incidence": None,
        "overdue": defaultdict(int),
        "years": set(),
    }


class _Figures(dict):
    """Figures by region code; a region without rows has zeros (and no rates)."""

    def __missing__(self, code: str) -> dict:
        return _blank()


def figures(rows: list[tuple], year: int | None) -> dict[str, dict]:
    """Per region: progress by state, planned and exited households, incidence, overdue."""
    out = _Figures()
    for code, kind, row_year, state, cases, households, people, overdue in rows:
        f = out.setdefault(code, _blank())
        if kind == "population":
            f["population"] = people
        elif kind == "register":
            if state in ("poor", "returned"):
                f["poor_people"] += people
                f["poor_households"] += households
        else:
            if overdue:
                f["overdue"][state] += overdue
            if kind == "household_exit":
                f["years"].add(row_year)
                if row_year == year:
                    f["progress"][state] += cases
                    f["planned"] += cases
                    f["exited"] += cases if state == "exited" else 0
    for f in out.values():
        f["rate"] = round(100.0 * f["exited"] / f["planned"], 1) if f["planned"] else None
        pop = f["population"]
        f["incidence"] = round(100.0 * f["poor_people"] / pop, 2) if pop else None
    return out


def _source(region: Region, now: datetime, seconds: float, limit: int) -> tuple[str, datetime]:
    """fresh | live | stale | none, and the time the figures are as of."""
    snap = snapshot()
    if snap is not None and now - snap.as_of <= timedelta(seconds=2 * seconds):
        return "fresh", snap.as_of
    if snap is not None:
        size = db.session.scalar(
            select(func.coalesce(func.sum(RegionStat.cases), 0)).where(
                RegionStat.region_code == region.code, RegionStat.kind.in_(CASE_KINDS)
            )
        )
    else:  # never refreshed: count up to the limit, never the whole table
        capped = select(Case.id).where(Case.region_path.startswith(region.path)).limit(limit)
        size = db.session.scalar(select(func.count()).select_from(capped.subquery()))
    if size < limit:
        return "live", now
    return ("stale", snap.as_of) if snap is not None else ("none", None)


def _listings(region: Region, page: int) -> tuple[list[tuple], list[tuple], int, int]:
    """(children, this page of the subtree's villages, villages in all, the page shown)."""
    pick = select(Region.code, Region.name, Region.level).order_by(Region.code)
    children = [tuple(r) for r in db.session.execute(pick.where(Region.parent_code == region.code))]
    if region.level == "village":
        return children, [(region.code, region.name, region.level)], 1, 1
    under = (Region.path.startswith(region.path), Region.level == "village")
    total = db.session.scalar(select(func.count()).select_from(Region).where(*under)) or 0
    page = max(1, min(page, math.ceil(total / PAGE_SIZE)))
    villages = [
        tuple(r)
        for r in db.session.execute(
            pick.where(*under).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        )
    ]
    if children and children[0][2] == "village":
        children = villages  # a township's villages: paged like every list of villages
    return children, villages, total, page


def _rows(region: Region, source: str, others: list[str], year: int | None) -> tuple[list, int]:
    """The rows of the region (all years) and of `others` (the year shown), and that year."""
    if source == "live":
        rows = live_rows(region, [region.code, *others])
    else:
        rows = stored_rows([region.code]) if source != "none" else []
    if year is None:
        years = figures([r for r in rows if r[0] == region.code], None)[region.code]["years"]
        year = max(years) if years else None
    if source in ("fresh", "stale") and others:
        rows += stored_rows(others, year or 0)
    return rows, year


def dashboard(
    actor: Actor,
    code: str | None,
    year: int | None,
    page: int,
    now: datetime,
    seconds: float = DEFAULT_SECONDS,
    limit: int = DEFAULT_LIVE_LIMIT,
) -> dict:
    """The dashboard of one region of the actor's subtree as plain data (see web/dashboard)."""
    region = scoped_region(actor, code)
    source, as_of = _source(region, now, seconds, limit)
    children, villages, total, page = _listings(region, page)
    others = list(dict.fromkeys(r[0] for r in [*children, *villages] if r[0] != region.code))
    rows, year = _rows(region, source, others, year)
    data = figures(rows, year)
    mine = data[region.code]

    def listing(items) -> list[dict]:
        return [{"code": c, "name": n, "level": lv, **_public(data[c])} for c, n, lv in items]

    path = region.path.strip("/").split("/")
    names = dict(
        tuple(r)
        for r in db.session.execute(select(Region.code, Region.name).where(Region.code.in_(path)))
    )
    own_depth = len(actor.region_path.strip("/").split("/"))
    return {
        "region": {"code": region.code, "name": region.name, "level": region.level},
        "trail": [{"code": c, "name": names.get(c, c)} for c in path[own_depth - 1 :]],
        "year": year,
        "years": sorted(mine["years"], reverse=True),
        "source": source,
        "as_of": as_of,
        "summary": _public(mine),
        "progress": dict(mine["progress"]),
        "overdue": dict(mine["overdue"]),
        "children": listing(children),
        "villages": listing(villages),
        "page": page,
        "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "villages_total": total,
        "village_threshold": load_rule_set(rule_set_for(region)).village_incidence_threshold,
    }


def _public(f: dict) -> dict:
    keys = ("planned", "exited", "rate", "poor_people", "poor_households", "population")
    return {k: f[k] for k in (*keys, "incidence")}
