"""Evaluation at county scale: villages first, remote ones on purpose, assignment, 申诉."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import PASSWORD, VILLAGE, VILLAGE2, add_household, set_now
from workflow.errors import Conflict, NotFound
from workflow.extensions import db
from workflow.models import Case, Region
from workflow.services import appeals, cases, evaluation, regions, users
from workflow.services.actors import from_user


def filed_cases(world, village, n, actor):
    """Households whose exit the county approved (driven here straight to `filed`)."""
    now = set_now("2019-11-12T09:00:00+08:00")
    hids = [add_household(actor, village) for _ in range(n)]
    ids = cases.open_household_cases(world["township1"], hids, 2019, now)
    db.session.commit()
    # The earlier steps are tested elsewhere; here only the evaluation matters.
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    return hids


def test_two_stage_sample_with_remote_villages_is_reproducible(world):
    regions.add_many(
        [
            dict(
                code=f"4306231002{v:02d}",
                name=f"村{v}",
                level="village",
                parent_code="430623100000",
                rural_population=500,
                is_poor=v % 2 == 0,
                remote=v == 9,
            )
            for v in range(3, 10)
        ]
    )
    db.session.commit()
    for v in range(3, 10):
        filed_cases(world, f"4306231002{v:02d}", 4, world["township1"])
    ev = evaluation.create(
        world["province1"],
        "430623",
        2019,
        6,
        99,
        0,
        None,
        set_now("2019-11-20T09:00:00+08:00"),
        village_sample_size=3,
        households_per_village=2,
    )
    villages = ev.design["villages"]
    assert len(villages) == 3 and "430623100209" in villages  # the remote one, on purpose
    sample = evaluation.samples(ev)
    assert len(sample) == 6 and {s.village_code for s in sample} == set(villages)
    again = evaluation.create(
        world["province1"],
        "430623",
        2019,
        6,
        99,
        0,
        None,
        set_now("2019-11-20T09:00:00+08:00"),
        village_sample_size=3,
        households_per_village=2,
    )
    assert [s.household_id for s in evaluation.samples(again)] == [s.household_id for s in sample]


def test_evaluators_see_only_their_households_and_the_county_appeals_once(world):
    users.create(
        "evaluator2",
        PASSWORD,
        "evaluator",
        "430000",
        "评估员二",
        set_now("2019-11-12T09:00:00+08:00"),
    )
    e2 = from_user(db.session.scalar(select(users.User).where(users.User.username == "evaluator2")))
    filed_cases(world, VILLAGE, 3, world["village1"])
    filed_cases(world, VILLAGE2, 3, world["village2"])
    now = set_now("2019-11-20T09:00:00+08:00")
    ev = evaluation.create(
        world["province1"], "430623", 2019, 6, 5, 0, ["evaluator1", "evaluator2"], now
    )
    mine = evaluation.samples(ev, world["evaluator1"])
    theirs = evaluation.samples(ev, e2)
    assert len(mine) == 3 and len(theirs) == 3
    assert not {s.household_id for s in mine} & {s.household_id for s in theirs}
    try:
        evaluation.record_findings(
            world["evaluator1"],
            ev.id,
            [
                {
                    "household_id": theirs[0].household_id,
                    "meets_criteria": True,
                    "missed_poor": None,
                    "satisfied": True,
                }
            ],
            now,
        )
        raise AssertionError("an evaluator recorded a household not assigned to them")
    except NotFound:
        db.session.rollback()
    for who, rows in ((world["evaluator1"], mine), (e2, theirs)):
        evaluation.record_findings(
            who,
            ev.id,
            [
                {
                    "household_id": s.household_id,
                    "meets_criteria": s is not mine[0],
                    "missed_poor": None,
                    "satisfied": True,
                }
                for s in rows
            ],
            now,
        )
    disputed = mine[0].household_id
    appeals.appeal(world["county1"], ev.id, disputed, "该户已有稳定务工收入,证明材料附后", now)
    try:
        appeals.appeal(world["county1"], ev.id, disputed, "再次申诉", now)
        raise AssertionError("a second appeal was accepted")
    except Conflict:
        db.session.rollback()
    try:
        evaluation.close(world["province1"], ev.id, now)
        raise AssertionError("closed with an appeal open")
    except Conflict:
        db.session.rollback()
    finding = appeals.resolve(world["province1"], ev.id, disputed, True, "材料属实,改判", now)
    assert finding.meets_criteria is True and finding.appeal_status == "upheld"
    closed = evaluation.close(world["province1"], ev.id, now)
    assert closed.passed is True
    assert closed.metrics["wrong_exit_rate"]["numerator"] == 0
    info = regions.to_dict(db.session.get(Region, "430623"), with_incidence=True)
    assert info["evaluation_id"] == ev.id and info["comprehensive_incidence_rate"] is not None
