"""The village and county exit procedures as tables (written out by hand from DOMAIN.md)."""

from __future__ import annotations

from datetime import date

import pytest

from states.county_exit import PROCEDURE as COUNTY
from states.guards import Firing
from states.rules import load_rule_set
from states.village_exit import PROCEDURE as VILLAGE
from workflow import machines
from workflow.errors import TransitionNotAllowed

ROLES = [
    "village",
    "township",
    "county",
    "city",
    "province",
    "evaluator",
    "admin",
    "system",
    "public",
]
VILLAGE_ROLES = {
    "propose": {"village"},
    "review": {"township"},
    "verify": {"county"},
    "publicize": {"township"},
    "close_window": {"system"},
    "object": {"public"},
    "dismiss_objection": {"county"},
    "uphold_objection": {"county"},
    "approve": {"county"},
    "announce": {"county"},
    "reject": {"township", "county"},
}
VILLAGE_SOURCES = {
    "propose": {"draft"},
    "review": {"proposed"},
    "verify": {"county_verification"},
    "publicize": {"verified"},
    "close_window": {"publicity"},
    "object": {"publicity", "objection_review"},
    "dismiss_objection": {"objection_review"},
    "uphold_objection": {"objection_review"},
    "approve": {"county_review"},
    "announce": {"approved"},
    "reject": {"proposed", "county_verification", "verified", "county_review"},
}
COUNTY_ROLES = {
    "propose": {"county"},
    "review": {"city"},
    "verify": {"province"},
    "publicize": {"province"},
    "close_window": {"system"},
    "object": {"public"},
    "dismiss_objection": {"county"},
    "uphold_objection": {"county"},
    "confirm": {"province"},
    "evaluate": {"city", "province"},
    "fail_evaluation": {"city", "province"},
    "approve": {"province"},
    "announce": {"province"},
    "reject": {"city", "province"},
}
COUNTY_SOURCES = {
    "propose": {"draft", "rectification"},
    "review": {"proposed"},
    "verify": {"city_reviewed"},
    "publicize": {"province_verified"},
    "close_window": {"publicity"},
    "object": {"publicity", "objection_review"},
    "dismiss_objection": {"objection_review"},
    "uphold_objection": {"objection_review"},
    "confirm": {"province_review"},
    "evaluate": {"national_evaluation"},
    "fail_evaluation": {"national_evaluation"},
    "approve": {"evaluated"},
    "announce": {"approved"},
    "reject": {"proposed", "city_reviewed", "province_verified", "province_review"},
}
TABLES = [(VILLAGE, VILLAGE_ROLES, VILLAGE_SOURCES), (COUNTY, COUNTY_ROLES, COUNTY_SOURCES)]


@pytest.mark.parametrize("proc,roles,sources", TABLES, ids=["village", "county"])
def test_who_may_fire_what_where(proc, roles, sources):
    assert set(proc.triggers) == set(roles)
    for state in proc.state_codes():
        for trigger in roles:
            for role in ROLES:
                expected = role in roles[trigger] and state in sources[trigger]
                actual = role in proc.roles_for(trigger) and state in proc.sources(trigger)
                assert actual == expected, (proc.kind, state, trigger, role)


GUANGXI = load_rule_set("guangxi")
ALL11 = dict.fromkeys(GUANGXI.village_indicator_codes(), True)


def firing(state, payload=None, facts=None, rules=GUANGXI) -> Firing:
    return Firing(
        state=state,
        actor_id=7,
        actor_role="x",
        actor_name="x",
        payload=payload or {},
        case_data={},
        rules=rules,
        today=date(2019, 12, 1),
        facts=facts or {},
    )


@pytest.mark.parametrize(
    "incidence,indicators,reason",
    [
        (2.99, ALL11, None),
        (3.0, ALL11, "贫困发生率 3.00% 未低于 3%"),  # “低于”: exactly at the threshold fails
        (1.0, {**ALL11, "collective_income": False}, "有村集体经济收入"),
        (None, ALL11, "无法计算贫困发生率"),
    ],
)
def test_village_propose_guards(incidence, indicators, reason):
    f = firing(
        "draft",
        {"indicators": indicators},
        {"incidence": incidence, "poor_people": 30, "population": 1000},
    )
    if reason is None:
        assert machines.fire("village_exit", "propose", f) == "proposed"
    else:
        with pytest.raises(TransitionNotAllowed) as err:
            machines.fire("village_exit", "propose", f)
        assert reason in err.value.detail


def test_village_verification_needs_three_and_approval_rechecks_live_data():
    day = {"result": "pass", "visited_on": "2019-11-01"}
    assert (
        machines.fire(
            "village_exit", "verify", firing("county_verification", day, {"passing_ids": {1}})
        )
        == "county_verification"
    )
    assert (
        machines.fire(
            "village_exit", "verify", firing("county_verification", day, {"passing_ids": {1, 2}})
        )
        == "verified"
    )
    with pytest.raises(TransitionNotAllowed) as err:
        machines.fire(
            "village_exit",
            "approve",
            firing("county_review", {}, {"incidence": 3.5, "proposal_indicators": ALL11}),
        )
    assert "3.50%" in err.value.detail
    assert (
        machines.fire(
            "village_exit",
            "approve",
            firing("county_review", {}, {"incidence": 1.2, "proposal_indicators": ALL11}),
        )
        == "approved"
    )


@pytest.mark.parametrize(
    "facts,ok",
    [
        ({"incidence": 1.0, "poor_villages": 4, "poor_villages_exited": 4}, True),
        ({"incidence": 1.0, "poor_villages": 4, "poor_villages_exited": 3}, False),
        ({"incidence": 3.0, "poor_villages": 4, "poor_villages_exited": 4}, False),
    ],
)
def test_county_propose_guards(facts, ok):
    f = firing("rectification", {"indicators": {}}, facts)
    if ok:
        assert machines.fire("county_exit", "propose", f) == "proposed"
    else:
        with pytest.raises(TransitionNotAllowed):
            machines.fire("county_exit", "propose", f)


def test_county_evaluation_outcomes():
    assert machines.fire("county_exit", "evaluate", firing("national_evaluation")) == "evaluated"
    assert (
        machines.fire("county_exit", "fail_evaluation", firing("national_evaluation"))
        == "rectification"
    )
