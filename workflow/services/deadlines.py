"""Step deadlines: when a waiting case becomes overdue, marking it, and the daily digests."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update

from states.calendar import SHANGHAI, HolidayDataMissing, closing_time, is_working_day
from states.registry import procedure
from states.rules import load_rule_set
from workflow.extensions import db
from workflow.models import Case, Digest, PublicityWindow, Region, SchedulerRun

logger = logging.getLogger(__name__)


def deadline_for(kind: str, state: str, rule_set: str, now: datetime) -> datetime | None:
    """The deadline of the step a case waits for in `state`, or None (no limit, or no data)."""
    step = procedure(kind).deadlines.get(state)
    if step is None:
        return None
    rules = load_rule_set(rule_set)
    days = rules.deadlines.get(step)
    if not days:
        return None
    try:
        return closing_time(now, days, rules.period_rule)
    except HolidayDataMissing as err:
        # Never guessed: the case has no deadline and the scheduler's status says why.
        logger.warning("no deadline for a %s case in %s: %s", kind, state, err)
        return None


def mark_overdue(now: datetime) -> int:
    """Flag the waiting cases whose deadline has passed; returns how many were flagged."""
    count = db.session.execute(
        update(Case).where(Case.overdue.is_(False), Case.deadline_at <= now).values(overdue=True),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.commit()
    if count:
        logger.info("%d case(s) became overdue", count)
    return count


class Notifier(Protocol):
    """Delivers a digest (SMS or e-mail gateways plug in here; none is reachable by default)."""

    name: str

    def deliver(self, region: Region, digest: Digest) -> None: ...


class LogNotifier:
    """The default delivery: a log line (the digest itself is kept in the database)."""

    name = "log"

    def deliver(self, region: Region, digest: Digest) -> None:
        logger.info("digest for %s %s: %d overdue step(s)", region.name, digest.day, digest.overdue)


def make_digests(now: datetime, notifier: Notifier | None = None) -> int:
    """Today's digest of overdue steps for every township and county that has some."""
    notifier = notifier or LogNotifier()
    day = now.astimezone(SHANGHAI).date()
    rows = db.session.execute(
        select(Case.id, Case.region_path, Case.state, Case.deadline_at, Case.village_code).where(
            Case.overdue.is_(True)
        )
    ).all()
    regions = db.session.scalars(
        select(Region).where(Region.level.in_(("township", "county")))
    ).all()
    made = 0
    for region in regions:
        mine = [r for r in rows if r.region_path.startswith(region.path)]
        if not mine:
            continue
        if db.session.scalar(
            select(Digest.id).where(Digest.region_code == region.code, Digest.day == day)
        ):
            continue
        by_state: dict[str, int] = defaultdict(int)
        for r in mine:
            by_state[r.state] += 1
        digest = Digest(
            region_code=region.code,
            day=day,
            created_at=now,
            overdue=len(mine),
            content={
                "by_state": dict(by_state),
                "cases": [
                    {
                        "id": r.id,
                        "state": r.state,
                        "village_code": r.village_code,
                        "deadline_at": r.deadline_at.isoformat(),
                    }
                    for r in mine[:500]
                ],
            },
            delivered_via=notifier.name,
        )
        db.session.add(digest)
        db.session.flush()
        notifier.deliver(region, digest)
        made += 1
    db.session.commit()
    return made


def record_run(job: str, now: datetime, result: dict) -> None:
    """Remember a scheduler job's last run."""
    run = db.session.get(SchedulerRun, job)
    if run is None:
        db.session.add(SchedulerRun(job=job, last_run_at=now, result=result))
    else:
        run.last_run_at, run.result = now, result
    db.session.commit()


def status(now: datetime) -> dict:
    """The scheduler's health: last runs, the next due window, overdue cases, holiday data."""
    runs = {
        r.job: {"last_run_at": r.last_run_at.isoformat(), "result": r.result}
        for r in db.session.scalars(select(SchedulerRun))
    }
    next_window = db.session.execute(
        select(PublicityWindow.code, PublicityWindow.closes_at)
        .where(PublicityWindow.closed_at.is_(None))
        .order_by(PublicityWindow.closes_at)
        .limit(1)
    ).first()
    overdue = (
        db.session.scalar(select(func.count()).select_from(Case).where(Case.overdue.is_(True))) or 0
    )
    problems = []
    today = now.astimezone(SHANGHAI).date()
    for ahead in (0, 60):  # windows and deadlines reach up to about two months ahead
        try:
            is_working_day(today + timedelta(days=ahead))
        except HolidayDataMissing as err:
            problems.append(str(err))
            break
    return {
        "runs": runs,
        "next_window": {"code": next_window.code, "closes_at": next_window.closes_at.isoformat()}
        if next_window
        else None,
        "overdue_cases": overdue,
        "problems": problems,
    }
