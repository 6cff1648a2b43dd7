"""The household exit procedure, as a table: every (state, trigger, role), and the guards."""

from __future__ import annotations

from datetime import date

import pytest

from states.guards import Firing
from states.household_exit import PROCEDURE, State
from states.rules import load_rule_set
from workflow import machines
from workflow.errors import TransitionNotAllowed

S = State
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

# The law, written out by hand from DOMAIN.md (not derived from the definition under test).
EXPECTED_ROLES = {
    "submit_survey": {"village"},
    "appraise": {"village"},
    "publicize": {"village", "township"},
    "close_window": {"system"},
    "object": {"public"},
    "dismiss_objection": {"township"},
    "uphold_objection": {"township"},
    "verify": {"township"},
    "approve": {"county"},
    "evaluate": {"city", "province"},
    "fail_evaluation": {"city", "province"},
    "announce": {"county"},
    "record_exit": {"county", "township"},
    "defer": {"village", "township", "county"},
}
BEFORE_FILED = {
    "planned",
    "surveyed",
    "appraised",
    "village_publicity",
    "township_verification",
    "verified",
    "township_publicity",
    "county_review",
    "objection_review",
}
EXPECTED_SOURCES = {
    "submit_survey": {"planned", "surveyed"},
    "appraise": {"surveyed"},
    "publicize": {"appraised", "verified"},
    "close_window": {"village_publicity", "township_publicity"},
    "object": {"village_publicity", "township_publicity", "objection_review"},
    "dismiss_objection": {"objection_review"},
    "uphold_objection": {"objection_review"},
    "verify": {"township_verification"},
    "approve": {"county_review"},
    "evaluate": {"filed"},
    "fail_evaluation": {"filed"},
    "announce": {"evaluated"},
    "record_exit": {"announced"},
    "defer": BEFORE_FILED,
}
ALL_STATES = {
    "planned",
    "surveyed",
    "appraised",
    "village_publicity",
    "township_verification",
    "verified",
    "township_publicity",
    "county_review",
    "filed",
    "evaluated",
    "announced",
    "exited",
    "objection_review",
    "deferred",
}

RULES = load_rule_set("national")
JUDGED = {"survey": {"judgement": {"met": True, "income_met": True, "indicators": {}}}}


def test_states_and_triggers_are_exactly_the_domain_ones():
    assert set(PROCEDURE.state_codes()) == ALL_STATES
    assert set(PROCEDURE.triggers) == set(EXPECTED_ROLES)
    assert set(PROCEDURE.labels) == ALL_STATES


@pytest.mark.parametrize("state", sorted(ALL_STATES))
@pytest.mark.parametrize("trigger", sorted(EXPECTED_ROLES))
@pytest.mark.parametrize("role", ROLES)
def test_who_may_fire_what_where(state, trigger, role):
    expected = role in EXPECTED_ROLES[trigger] and state in EXPECTED_SOURCES[trigger]
    actual = role in PROCEDURE.roles_for(trigger) and state in PROCEDURE.sources(trigger)
    assert actual == expected


def firing(state: str, payload=None, facts=None, data=None, actor_id: int = 10) -> Firing:
    return Firing(
        state=state,
        actor_id=actor_id,
        actor_role="x",
        actor_name="核实员",
        payload=payload or {},
        case_data=data if data is not None else dict(JUDGED),
        rules=RULES,
        today=date(2019, 11, 30),
        facts=facts or {},
    )


# (state, trigger, payload, facts) -> destination, with every guard satisfied.
HAPPY = [
    (
        "planned",
        "submit_survey",
        {"surveyed_on": "2019-10-15", "surveyors": ["甲", "乙"]},
        {},
        "surveyed",
    ),
    (
        "surveyed",
        "submit_survey",
        {"surveyed_on": "2019-10-15", "surveyors": ["甲", "乙"]},
        {},
        "surveyed",
    ),
    (
        "surveyed",
        "appraise",
        {"meeting_on": "2019-10-20", "present": 30, "votes_for": 16, "votes_against": 10},
        {},
        "appraised",
    ),
    ("appraised", "publicize", {}, {}, "village_publicity"),
    ("verified", "publicize", {}, {}, "township_publicity"),
    ("village_publicity", "close_window", {}, {"window_open": False}, "township_verification"),
    ("township_publicity", "close_window", {}, {"window_open": False}, "county_review"),
    ("village_publicity", "object", {}, {"window_open": True}, "objection_review"),
    ("township_publicity", "object", {}, {"window_open": True}, "objection_review"),
    ("objection_review", "object", {}, {"window_open": True}, "objection_review"),
    (
        "objection_review",
        "dismiss_objection",
        {},
        {"objection_status": "open", "window_stage": "village", "window_open": True},
        "village_publicity",
    ),
    (
        "objection_review",
        "dismiss_objection",
        {},
        {"objection_status": "open", "window_stage": "village", "window_open": False},
        "township_verification",
    ),
    (
        "objection_review",
        "dismiss_objection",
        {},
        {"objection_status": "open", "window_stage": "township", "window_open": True},
        "township_publicity",
    ),
    (
        "objection_review",
        "dismiss_objection",
        {},
        {"objection_status": "open", "window_stage": "township", "window_open": False},
        "county_review",
    ),
    (
        "objection_review",
        "dismiss_objection",
        {},
        {
            "objection_status": "open",
            "window_stage": "village",
            "window_open": True,
            "other_open_objections": 1,
        },
        "objection_review",
    ),
    ("objection_review", "uphold_objection", {}, {"objection_status": "open"}, "surveyed"),
    (
        "township_verification",
        "verify",
        {"result": "pass", "visited_on": "2019-11-01"},
        {"passing_ids": {1, 2}, "signed_ids": {1, 2}},
        "verified",
    ),
    (
        "township_verification",
        "verify",
        {"result": "pass", "visited_on": "2019-11-01"},
        {"passing_ids": {1}, "signed_ids": {1}},
        "township_verification",
    ),
    (
        "township_verification",
        "verify",
        {"result": "fail", "visited_on": "2019-11-01"},
        {"passing_ids": {1, 2}, "signed_ids": {1, 2}},
        "surveyed",
    ),
    ("county_review", "approve", {}, {"verifier_ids": {1, 2, 3}}, "filed"),
    ("filed", "evaluate", {}, {}, "evaluated"),
    ("filed", "fail_evaluation", {}, {}, "deferred"),
    ("evaluated", "announce", {}, {}, "announced"),
    ("announced", "record_exit", {}, {}, "exited"),
] + [(s, "defer", {"reason": "外出务工未归"}, {}, "deferred") for s in sorted(BEFORE_FILED)]


@pytest.mark.parametrize("state,trigger,payload,facts,dest", HAPPY)
def test_machine_moves_as_the_law_says(state, trigger, payload, facts, dest):
    f = firing(state, payload, facts)
    assert machines.fire("household_exit", trigger, f) == dest
    assert f.state == dest


@pytest.mark.parametrize("trigger", sorted(EXPECTED_ROLES))
@pytest.mark.parametrize("state", sorted(ALL_STATES))
def test_trigger_refused_outside_its_states(state, trigger):
    if state in EXPECTED_SOURCES[trigger]:
        return
    with pytest.raises(TransitionNotAllowed) as err:
        machines.fire("household_exit", trigger, firing(state))
    assert trigger in err.value.detail


REFUSALS = [
    (
        "planned",
        "submit_survey",
        {"surveyed_on": "2019-10-15", "surveyors": ["甲"]},
        {},
        None,
        "不少于2人",
    ),
    (
        "planned",
        "submit_survey",
        {"surveyed_on": "2019-10-15", "surveyors": ["甲", "甲 "]},
        {},
        None,
        "不少于2人",
    ),
    (
        "planned",
        "submit_survey",
        {"surveyed_on": "2019-12-15", "surveyors": ["甲", "乙"]},
        {},
        None,
        "surveyed_on is in the future",
    ),
    (
        "surveyed",
        "appraise",
        {"meeting_on": "2019-10-20", "present": 30, "votes_for": 15, "votes_against": 15},
        {},
        None,
        "未超过参会人数 30 的半数",
    ),
    (
        "surveyed",
        "appraise",
        {"meeting_on": "2019-10-20", "present": 10, "votes_for": 8, "votes_against": 5},
        {},
        None,
        "超过参会人数",
    ),
    (
        "surveyed",
        "appraise",
        {"meeting_on": "2019-10-20", "present": 30, "votes_for": 25, "votes_against": 0},
        {},
        {
            "survey": {
                "judgement": {
                    "met": False,
                    "income_met": False,
                    "income_per_capita": 2000,
                    "poverty_line": 3218,
                    "indicators": {},
                }
            }
        },
        "未超过当年扶贫标准",
    ),
    (
        "surveyed",
        "appraise",
        {"meeting_on": "2019-10-20", "present": 30, "votes_for": 25, "votes_against": 0},
        {},
        {},
        "尚无摸底调查结果",
    ),
    (
        "township_verification",
        "verify",
        {"result": "pass", "visited_on": "2019-11-01"},
        {"signed_ids": {10}, "passing_ids": {10}},
        None,
        "每人只能签一次",
    ),
    (
        "township_verification",
        "verify",
        {"result": "pass", "visited_on": "2019-11-01"},
        {"surveyor_ids": {10}},
        None,
        "参与摸底调查的人员不能核实",
    ),
    (
        "township_verification",
        "verify",
        {"result": "pass", "visited_on": "2019-11-01"},
        {"surveyor_names": {"核实员"}},
        None,
        "参与摸底调查的人员不能核实",
    ),
    (
        "township_verification",
        "verify",
        {"result": "fail", "visited_on": "2019-11-01"},
        {"appraiser_ids": {10}},
        None,
        "参与民主评议的人员不能核实",
    ),
    (
        "township_verification",
        "verify",
        {"result": "pass", "visited_on": "2020-01-01"},
        {},
        None,
        "visited_on is in the future",
    ),
    ("county_review", "approve", {}, {"verifier_ids": {10, 11, 12}}, None, "不能审批同一户"),
    (
        "objection_review",
        "dismiss_objection",
        {},
        {"objection_status": "dismissed"},
        None,
        "该异议已处理",
    ),
    ("objection_review", "uphold_objection", {}, {"objection_status": None}, None, "没有这条异议"),
    (
        "village_publicity",
        "close_window",
        {},
        {"window_open": True},
        None,
        "当前条件下不能进行此操作",
    ),
]


@pytest.mark.parametrize("state,trigger,payload,facts,data,reason", REFUSALS)
def test_guards_refuse_and_say_why(state, trigger, payload, facts, data, reason):
    f = firing(state, payload, facts, data)
    with pytest.raises(TransitionNotAllowed) as err:
        machines.fire("household_exit", trigger, f)
    assert reason in err.value.detail
    assert f.state == state


def test_one_machine_per_procedure_shared_by_all_rows():
    assert machines.machine("household_exit") is machines.machine("household_exit")
    assert machines.machine("household_exit").models == []
