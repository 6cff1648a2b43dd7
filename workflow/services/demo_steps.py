"""The steps that drive the demo households through the procedure on a 2019 timeline."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import select

from workflow.extensions import db
from workflow.models import Case, PublicityWindow
from workflow.services import evaluation, publicity, transitions
from workflow.services.bulk import quiet_gc
from workflow.services.demo import COUNTY, TOWNSHIPS, YEAR, at


def _cases_in(state: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    # Plain rows of the connection, read as a batch reads its rows (bulk.quiet_gc): the
    # ORM's result layer and full collections of the heap would cost more than the
    # step's own work on a county of ten thousand households.
    with quiet_gc():
        rows = (
            db.session.connection()
            .execute(
                select(Case.id, Case.village_code)
                .where(Case.year == YEAR, Case.state == state)
                .order_by(Case.id)
            )
            .all()
        )
        for cid, village in rows:
            out[village].append(cid)
    return out


def survey(by_region, actors) -> int:
    """Each village clerk submits the survey of its planned households."""
    n, rng = 0, random.Random(1)
    indicators = {
        c: True
        for c in (
            "food",
            "clothing",
            "compulsory_education",
            "basic_medical",
            "housing_safety",
            "safe_water",
            "electricity",
            "road",
            "tv",
        )
    }
    for village, ids in _cases_in("planned").items():
        clerk = by_region[("village", village)][0]
        payloads = {
            cid: {
                "surveyed_on": "2019-10-15",
                "surveyors": ["韦组长", "覃队员"],
                "income_per_capita": float(rng.randint(3700, 9000)),
                "indicators": indicators,
            }
            for cid in ids
        }
        n += len(
            transitions.fire_many(
                "submit_survey", ids, clerk, {}, at(date(YEAR, 10, 15)), payloads=payloads
            ).succeeded
        )
    return n


def appraise(by_region, actors) -> int:
    """Each village appraises its surveyed households in one meeting."""
    n = 0
    for village, ids in _cases_in("surveyed").items():
        clerk = by_region[("village", village)][0]
        payload = {
            "meeting_on": "2019-10-20",
            "present": 31,
            "votes_for": 29,
            "votes_against": 1,
            "representatives": 35,
        }
        n += len(
            transitions.fire_many("appraise", ids, clerk, payload, at(date(YEAR, 10, 20))).succeeded
        )
    return n


def first_window(by_region, actors) -> int:
    """Each village posts its first publicity window."""
    n = 0
    for village, ids in _cases_in("appraised").items():
        clerk = by_region[("village", village)][0]
        publicity.post(
            clerk,
            village,
            ids,
            {"phone": "0776-1234567", "address": "村委会办公室"},
            None,
            at(date(YEAR, 10, 21)),
        )
        n += len(ids)
    return n


def _sweep_after(state: str) -> int:
    windows = (
        db.session.execute(
            select(Case.window_id).where(Case.year == YEAR, Case.state == state).distinct()
        )
        .scalars()
        .all()
    )

    latest = max((db.session.get(PublicityWindow, w).closes_at for w in windows if w), default=None)
    if latest is None:
        return 0
    from workflow.clock import as_utc

    return publicity.sweep(as_utc(latest) + timedelta(seconds=1))["cases_advanced"]


def close_first(by_region, actors) -> int:
    """The sweep closes the first windows after their period."""
    return _sweep_after("village_publicity")


def verify(by_region, actors) -> int:
    """Three township verifiers sign each household off."""
    n = 0
    for tcode, _ in TOWNSHIPS:
        ids = [
            cid
            for v, cids in _cases_in("township_verification").items()
            if v[:9] == tcode[:9]
            for cid in cids
        ]
        for k, verifier in enumerate(by_region[("township", tcode)][:3]):
            done = transitions.fire_many(
                "verify",
                ids,
                verifier,
                {"result": "pass", "visited_on": f"2019-10-{30 + k % 2}"},
                at(date(YEAR, 10, 31), 17 + k),
            )
            n = max(n, len(done.succeeded))
    return n


def second_window(by_region, actors) -> int:
    """Each township posts the second publicity window."""
    n = 0
    for tcode, _ in TOWNSHIPS:
        ids = [
            cid for v, cids in _cases_in("verified").items() if v[:9] == tcode[:9] for cid in cids
        ]
        if ids:
            publicity.post(
                by_region[("township", tcode)][0],
                tcode,
                ids,
                {"phone": "0776-7654321", "address": "乡镇扶贫工作站"},
                None,
                at(date(YEAR, 11, 1)),
            )
            n += len(ids)
    return n


def close_second(by_region, actors) -> int:
    """The sweep closes the second windows."""
    return _sweep_after("township_publicity")


def _county_batch(trigger: str, state: str, actors, day: date) -> int:
    ids = [cid for cids in _cases_in(state).values() for cid in cids]
    return (
        len(
            transitions.fire_many(
                trigger, ids, actors["county1"], {"note": None}, at(day)
            ).succeeded
        )
        if ids
        else 0
    )


def approve(by_region, actors) -> int:
    """The county approves in one batch."""
    return _county_batch("approve", "county_review", actors, date(YEAR, 11, 12))


def evaluate(by_region, actors) -> int:
    """The province commissions an evaluation; findings; closing."""
    filed = sum(len(v) for v in _cases_in("filed").values())
    if not filed:
        return 0
    ev = evaluation.create(
        actors["province1"],
        COUNTY,
        YEAR,
        max(1, filed // 10),
        YEAR,
        max(1, filed // 50),
        ["evaluator1"],
        at(date(YEAR, 11, 20)),
    )
    findings = [
        {
            "household_id": s.household_id,
            "meets_criteria": True if s.registered else None,
            "missed_poor": None if s.registered else False,
            "satisfied": True,
        }
        for s in evaluation.samples(ev)
    ]
    evaluation.record_findings(actors["evaluator1"], ev.id, findings, at(date(YEAR, 11, 25)))
    evaluation.close(actors["province1"], ev.id, at(date(YEAR, 11, 28)))
    return sum(len(v) for v in _cases_in("evaluated").values())


def announce(by_region, actors) -> int:
    """The county announces in one batch."""
    return _county_batch("announce", "evaluated", actors, date(YEAR, 12, 1))


def record_exit(by_region, actors) -> int:
    """The county records the exits in one batch."""
    return _county_batch("record_exit", "announced", actors, date(YEAR, 12, 5))
