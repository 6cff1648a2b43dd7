"""The household exit procedure (贫困户退出, DOMAIN.md; 厅字〔2016〕16号 seven steps) as data."""

from __future__ import annotations

from enum import StrEnum

from states.procedure import (
    VIA_EVALUATION,
    VIA_OBJECTION,
    VIA_PUBLICITY,
    VIA_SWEEP,
    Procedure,
    Trigger,
)


class State(StrEnum):
    """States of a household exit case; values are DOMAIN.md's canonical codes."""

    PLANNED = "planned"
    SURVEYED = "surveyed"
    APPRAISED = "appraised"
    VILLAGE_PUBLICITY = "village_publicity"
    TOWNSHIP_VERIFICATION = "township_verification"
    VERIFIED = "verified"
    TOWNSHIP_PUBLICITY = "township_publicity"
    # DOMAIN.md names no state between the second publicity and `approve`; the
    # village procedure's `county_review` is the same step, so we use its name.
    COUNTY_REVIEW = "county_review"
    FILED = "filed"
    EVALUATED = "evaluated"
    ANNOUNCED = "announced"
    EXITED = "exited"
    OBJECTION_REVIEW = "objection_review"
    DEFERRED = "deferred"


S = State

LABELS = {
    S.PLANNED: "拟退出(预退出)",
    S.SURVEYED: "已摸底调查",
    S.APPRAISED: "已民主评议",
    S.VILLAGE_PUBLICITY: "村内第一次公示中",
    S.TOWNSHIP_VERIFICATION: "乡镇入户核实中",
    S.VERIFIED: "乡镇已核实",
    S.TOWNSHIP_PUBLICITY: "第二次公示中",
    S.COUNTY_REVIEW: "县级审定中",
    S.FILED: "已批准并报备案",
    S.EVALUATED: "已通过第三方评估",
    S.ANNOUNCED: "已公告退出",
    S.EXITED: "已退出销号",
    S.OBJECTION_REVIEW: "异议核查中",
    S.DEFERRED: "暂缓退出",
}

# Anything before the county's approval may be deferred (DOMAIN.md side paths).
BEFORE_FILED = [
    S.PLANNED,
    S.SURVEYED,
    S.APPRAISED,
    S.VILLAGE_PUBLICITY,
    S.TOWNSHIP_VERIFICATION,
    S.VERIFIED,
    S.TOWNSHIP_PUBLICITY,
    S.COUNTY_REVIEW,
    S.OBJECTION_REVIEW,
]

TRIGGERS = {
    t.code: t
    for t in [
        Trigger("submit_survey", "提交摸底调查", frozenset({"village"})),
        Trigger("appraise", "民主评议通过", frozenset({"village"})),
        Trigger("publicize", "张榜公示", frozenset({"village", "township"}), via=VIA_PUBLICITY),
        Trigger("close_window", "公示期满", frozenset({"system"}), via=VIA_SWEEP),
        Trigger("object", "提出异议", frozenset({"public"}), via=VIA_OBJECTION),
        Trigger("dismiss_objection", "异议不成立", frozenset({"township"})),
        Trigger("uphold_objection", "异议成立", frozenset({"township"})),
        Trigger("verify", "入户核实签字", frozenset({"township"}), signoff=True),
        Trigger("approve", "县级批准退出", frozenset({"county"}), batch=True),
        # The city or province user who closes the evaluation batch signs these.
        Trigger("evaluate", "第三方评估通过", frozenset({"city", "province"}), via=VIA_EVALUATION),
        Trigger(
            "fail_evaluation",
            "第三方评估认定错退",
            frozenset({"city", "province"}),
            via=VIA_EVALUATION,
        ),
        Trigger("announce", "公告退出", frozenset({"county"}), batch=True),
        Trigger("record_exit", "退出销号", frozenset({"county", "township"}), batch=True),
        Trigger("defer", "暂缓退出", frozenset({"village", "township", "county"}), batch=True),
    ]
}

# Order matters: `transitions` takes the first candidate whose conditions pass.
TRANSITIONS = [
    # A case returned by an upheld objection or a failed verification is surveyed again.
    {
        "trigger": "submit_survey",
        "source": [S.PLANNED, S.SURVEYED],
        "dest": S.SURVEYED,
        "conditions": ["enough_surveyors", "survey_not_in_future"],
    },
    {
        "trigger": "appraise",
        "source": S.SURVEYED,
        "dest": S.APPRAISED,
        "conditions": [
            "criteria_met",
            "meeting_not_in_future",
            "votes_consistent",
            "attendance_sufficient",
            "majority_of_present",
        ],
    },
    {"trigger": "publicize", "source": S.APPRAISED, "dest": S.VILLAGE_PUBLICITY},
    {"trigger": "publicize", "source": S.VERIFIED, "dest": S.TOWNSHIP_PUBLICITY},
    {
        "trigger": "close_window",
        "source": S.VILLAGE_PUBLICITY,
        "dest": S.TOWNSHIP_VERIFICATION,
        "conditions": ["window_closed"],
    },
    {
        "trigger": "close_window",
        "source": S.TOWNSHIP_PUBLICITY,
        "dest": S.COUNTY_REVIEW,
        "conditions": ["window_closed"],
    },
    {
        "trigger": "object",
        "source": [S.VILLAGE_PUBLICITY, S.TOWNSHIP_PUBLICITY],
        "dest": S.OBJECTION_REVIEW,
        "conditions": ["window_open"],
    },
    # A further objection against a case already under review is recorded; the case stays.
    {
        "trigger": "object",
        "source": S.OBJECTION_REVIEW,
        "dest": None,
        "conditions": ["window_open"],
    },
    {
        "trigger": "dismiss_objection",
        "source": S.OBJECTION_REVIEW,
        "dest": None,
        "conditions": ["objection_open", "other_objections_open"],
    },
    {
        "trigger": "dismiss_objection",
        "source": S.OBJECTION_REVIEW,
        "dest": S.VILLAGE_PUBLICITY,
        "conditions": ["objection_open", "from_village_window", "window_open"],
    },
    {
        "trigger": "dismiss_objection",
        "source": S.OBJECTION_REVIEW,
        "dest": S.TOWNSHIP_VERIFICATION,
        "conditions": ["objection_open", "from_village_window", "window_closed"],
    },
    {
        "trigger": "dismiss_objection",
        "source": S.OBJECTION_REVIEW,
        "dest": S.TOWNSHIP_PUBLICITY,
        "conditions": ["objection_open", "from_township_window", "window_open"],
    },
    {
        "trigger": "dismiss_objection",
        "source": S.OBJECTION_REVIEW,
        "dest": S.COUNTY_REVIEW,
        "conditions": ["objection_open", "from_township_window", "window_closed"],
    },
    {
        "trigger": "uphold_objection",
        "source": S.OBJECTION_REVIEW,
        "dest": S.SURVEYED,
        "conditions": ["objection_open"],
    },
    # Each `verify` is one sign-off; a failing one returns the case to the survey,
    # the third distinct passing one moves it on (DOMAIN.md step 5, “不少于3人”).
    {
        "trigger": "verify",
        "source": S.TOWNSHIP_VERIFICATION,
        "dest": S.SURVEYED,
        "conditions": ["verifier_independent", "visit_not_in_future", "verification_failed"],
    },
    {
        "trigger": "verify",
        "source": S.TOWNSHIP_VERIFICATION,
        "dest": S.VERIFIED,
        "conditions": ["verifier_independent", "visit_not_in_future", "enough_verifiers"],
    },
    {
        "trigger": "verify",
        "source": S.TOWNSHIP_VERIFICATION,
        "dest": None,
        "conditions": ["verifier_independent", "visit_not_in_future"],
    },
    {
        "trigger": "approve",
        "source": S.COUNTY_REVIEW,
        "dest": S.FILED,
        "conditions": ["approver_not_verifier"],
    },
    {"trigger": "evaluate", "source": S.FILED, "dest": S.EVALUATED},
    {"trigger": "fail_evaluation", "source": S.FILED, "dest": S.DEFERRED},
    {"trigger": "announce", "source": S.EVALUATED, "dest": S.ANNOUNCED},
    {"trigger": "record_exit", "source": S.ANNOUNCED, "dest": S.EXITED},
    {"trigger": "defer", "source": BEFORE_FILED, "dest": S.DEFERRED},
]

PROCEDURE = Procedure(
    kind="household_exit",
    label="贫困户退出",
    states=State,
    labels={k.value: v for k, v in LABELS.items()},
    initial=S.PLANNED,
    triggers=TRIGGERS,
    transitions=TRANSITIONS,
    publicity_states={S.VILLAGE_PUBLICITY: "village", S.TOWNSHIP_PUBLICITY: "township"},
    terminal=frozenset({S.EXITED, S.DEFERRED}),
    deadlines={
        S.PLANNED: "survey",
        S.SURVEYED: "appraisal",
        S.TOWNSHIP_VERIFICATION: "township_verification",
        S.COUNTY_REVIEW: "county_review",
        S.OBJECTION_REVIEW: "objection_resolution",
    },
    # The village posts the first list, the township the second (DOMAIN.md steps 4, 5).
    publicize={
        S.APPRAISED: ("village", "village", "village"),
        S.VERIFIED: ("township", "township", "township"),
    },
    openers=frozenset({"township", "county"}),
)
