"""Village and county exits on live data: a village story, a county story with 整改."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.factories import APPRAISAL, SURVEY, TOWNSHIP, VILLAGE, add_household, set_now
from workflow.errors import TransitionNotAllowed
from workflow.extensions import db
from workflow.models import Case, EvaluationSample, Region
from workflow.services import cases, evaluation, publicity, regions, transitions

COUNTY = "430623"
CONTACT = {"phone": "0730-1", "address": "县扶贫办"}


def fire(trigger, ids, actor, payload=None):
    outcome = transitions.fire_many(trigger, ids, actor, payload or {}, set_now.now)
    db.session.commit()
    assert not outcome.failed, outcome.failed
    return outcome


def at(value):
    set_now.now = set_now(value)
    return set_now.now


def exit_households(world, hids):
    """Drive households through the real household procedure to `exited`."""
    at("2019-10-16T09:00:00+08:00")
    ids = cases.open_household_cases(world["township1"], hids, 2019, set_now.now)
    db.session.commit()
    fire("submit_survey", ids, world["village1"], SURVEY)
    at("2019-10-21T08:00:00+08:00")
    fire("appraise", ids, world["village1"], APPRAISAL)
    window = publicity.post(
        world["village1"], VILLAGE, ids, CONTACT, None, at("2019-10-21T09:00:00+08:00")
    )
    publicity.sweep(window.closes_at)
    at("2019-10-30T09:00:00+08:00")
    for name in ("township1", "township2", "township3"):
        fire("verify", ids, world[name], {"result": "pass", "visited_on": "2019-10-29"})
    window = publicity.post(world["township1"], TOWNSHIP, ids, CONTACT, None, set_now.now)
    publicity.sweep(window.closes_at)
    at("2019-11-12T09:00:00+08:00")
    fire("approve", ids, world["county1"])
    ev = evaluation.create(world["province1"], COUNTY, 2019, len(ids), 1, 0, None, set_now.now)
    evaluation.record_findings(
        world["evaluator1"],
        ev.id,
        [
            {"household_id": h, "meets_criteria": True, "missed_poor": None, "satisfied": True}
            for h in hids
        ],
        set_now.now,
    )
    assert evaluation.close(world["province1"], ev.id, set_now.now).passed
    fire("announce", ids, world["county1"])
    fire("record_exit", ids, world["county1"])
    return ids


def test_village_and_county_exit_on_live_data(world):
    hids = [add_household(world["village1"], members=2) for _ in range(8)]  # 24 people
    at("2019-10-10T09:00:00+08:00")
    village = cases.open_case(world["village1"], "village_exit", VILLAGE, 2019, set_now.now)
    indicators = {"indicators": {"infrastructure": True, "public_services": True}}
    try:
        transitions.fire_one("propose", village.id, world["village1"], indicators, set_now.now)
        raise AssertionError("2.4% must not pass a 2% threshold")
    except TransitionNotAllowed as err:
        assert "2.40%" in err.detail and "24 / 农业户籍人口 1000" in err.detail
    db.session.rollback()

    exit_households(world, hids[:3])  # 9 people exit: 15 remain, 1.5%
    assert regions.incidence(db.session.get(Region, VILLAGE))["incidence_rate"] == 1.5
    at("2019-12-10T09:00:00+08:00")
    fire("propose", [village.id], world["village1"], indicators)
    fire("review", [village.id], world["township1"])
    for name in ("county1", "county2", "county3"):
        fire("verify", [village.id], world[name], {"result": "pass", "visited_on": "2019-12-09"})
    window = publicity.post(world["township1"], TOWNSHIP, [village.id], CONTACT, None, set_now.now)
    assert "拟退出贫困村名单公示" in window.title
    publicity.sweep(window.closes_at)
    db.session.expire_all()
    assert db.session.get(Case, village.id).state == "county_review"
    refused = transitions.fire_many("approve", [village.id], world["county1"], {}, window.closes_at)
    assert "不能审批" in refused.failed[0]["detail"]  # county1 verified it
    db.session.rollback()
    at("2019-12-20T09:00:00+08:00")
    fire("approve", [village.id], world["county4"])
    fire("announce", [village.id], world["county4"])

    county = cases.open_case(world["county1"], "county_exit", COUNTY, 2019, set_now.now)
    fire("propose", [county.id], world["county1"], {"indicators": {}})
    fire("review", [county.id], world["city1"])
    fire("verify", [county.id], world["province1"], {"result": "pass", "visited_on": "2019-12-19"})
    window = publicity.post(world["province1"], COUNTY, [county.id], CONTACT, None, set_now.now)
    publicity.sweep(window.closes_at)
    at("2020-01-06T09:00:00+08:00")
    fire("confirm", [county.id], world["province1"])

    # A national evaluation that finds a wrong exit fails the county: 整改.
    ev = evaluation.create(world["province1"], COUNTY, 2019, 3, 7, 0, None, set_now.now)
    sampled = [
        s.household_id
        for s in db.session.scalars(
            select(EvaluationSample).where(EvaluationSample.evaluation_id == ev.id)
        )
    ]
    evaluation.record_findings(
        world["evaluator1"],
        ev.id,
        [
            {"household_id": h, "meets_criteria": i != 0, "missed_poor": None, "satisfied": True}
            for i, h in enumerate(sampled)
        ],
        set_now.now,
    )
    closed = evaluation.close(world["province1"], ev.id, set_now.now)
    assert closed.passed is False
    db.session.expire_all()
    assert db.session.get(Case, county.id).state == "rectification"

    # After 整改 the county proposes again and passes a second evaluation.
    at("2020-03-02T09:00:00+08:00")
    fire("propose", [county.id], world["county1"], {"indicators": {}})
    fire("review", [county.id], world["city1"])
    fire("verify", [county.id], world["province1"], {"result": "pass", "visited_on": "2020-03-01"})
    window = publicity.post(world["province1"], COUNTY, [county.id], CONTACT, None, set_now.now)
    publicity.sweep(window.closes_at + timedelta(seconds=1))
    at("2020-03-20T09:00:00+08:00")
    fire("confirm", [county.id], world["province1"])
    ev = evaluation.create(world["province1"], COUNTY, 2019, 3, 8, 0, None, set_now.now)
    evaluation.record_findings(
        world["evaluator1"],
        ev.id,
        [
            {
                "household_id": s.household_id,
                "meets_criteria": True,
                "missed_poor": None,
                "satisfied": True,
            }
            for s in evaluation.samples(ev)
        ],
        set_now.now,
    )
    assert evaluation.close(world["province1"], ev.id, set_now.now).passed
    fire("approve", [county.id], world["province1"])
    fire("announce", [county.id], world["province1"])
    db.session.expire_all()
    assert db.session.get(Case, county.id).state == "announced"
    history = cases.history(county.id)
    assert [h["trigger"] for h in history].count("propose") == 2
    assert "fail_evaluation" in [h["trigger"] for h in history]


def test_village_window_notice_lists_villages(world, client):
    import io

    from pypdf import PdfReader

    at("2019-12-01T09:00:00+08:00")
    village = cases.open_case(world["village1"], "village_exit", VILLAGE, 2019, set_now.now)
    fire(
        "propose",
        [village.id],
        world["village1"],
        {"indicators": {"infrastructure": True, "public_services": True}},
    )
    fire("review", [village.id], world["township1"])
    for name in ("county1", "county2", "county3"):
        fire("verify", [village.id], world[name], {"result": "pass", "visited_on": "2019-11-30"})
    window = publicity.post(world["township1"], TOWNSHIP, [village.id], CONTACT, None, set_now.now)
    pdf = client.get(f"/api/v1/publicity-windows/{window.id}/notice.pdf").data
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace(" ", "")
    assert "拟退出贫困村名单" in text and "红星村" in text and "村名" in text
    assert "户主姓名" not in text and "县级核查" in text
