"""Property tests of the guards: the machine's answer always agrees with the rule."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from states.guards import Firing
from states.rules import load_rule_set
from workflow import machines
from workflow.errors import TransitionNotAllowed

RULES = load_rule_set("national")
JUDGED = {"survey": {"judgement": {"met": True, "income_met": True, "indicators": {}}}}


def fire(state, trigger, payload, facts=None, actor=99):
    f = Firing(
        state=state,
        actor_id=actor,
        actor_role="x",
        actor_name="x",
        payload=payload,
        case_data=dict(JUDGED),
        rules=RULES,
        today=date(2019, 12, 31),
        facts=facts or {},
    )
    try:
        return machines.fire("household_exit", trigger, f)
    except TransitionNotAllowed:
        return None


@settings(max_examples=500, deadline=None)
@given(
    present=st.integers(0, 60),
    votes_for=st.integers(0, 60),
    against=st.integers(0, 60),
    representatives=st.none() | st.integers(1, 80),
)
def test_appraisal_passes_exactly_when_the_rule_says(present, votes_for, against, representatives):
    payload = {
        "meeting_on": "2019-12-01",
        "present": present,
        "votes_for": votes_for,
        "votes_against": against,
        "representatives": representatives,
    }
    expected = (
        present >= 1
        and votes_for + against <= present
        and votes_for * 2 > present
        and (not representatives or present >= RULES.min_appraisal_attendance * representatives)
    )
    assert (fire("surveyed", "appraise", payload) == "appraised") == expected


@settings(max_examples=500, deadline=None)
@given(
    signed=st.sets(st.integers(1, 8), max_size=6),
    actor=st.integers(1, 8),
    result=st.sampled_from(["pass", "fail"]),
)
def test_verification_needs_three_distinct_passing_signers(signed, actor, result):
    facts = {"signed_ids": signed, "passing_ids": signed}
    state = fire(
        "township_verification",
        "verify",
        {"result": result, "visited_on": "2019-12-01"},
        facts,
        actor,
    )
    if actor in signed:
        assert state is None  # nobody signs twice
    elif result == "fail":
        assert state == "surveyed"
    elif len(signed | {actor}) >= RULES.min_verifiers:
        assert state == "verified"
    else:
        assert state == "township_verification"


@settings(max_examples=300, deadline=None)
@given(surveyors=st.lists(st.text(min_size=0, max_size=4), max_size=5))
def test_survey_needs_two_distinct_named_people(surveyors):
    state = fire("planned", "submit_survey", {"surveyed_on": "2019-12-01", "surveyors": surveyors})
    distinct = {s.strip() for s in surveyors if s.strip()}
    assert (state == "surveyed") == (len(distinct) >= RULES.min_surveyors)
