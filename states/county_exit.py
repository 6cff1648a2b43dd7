"""The poor-county exit procedure (贫困县退出, 厅字〔2016〕16号) as data."""

from __future__ import annotations

from enum import StrEnum

from states.procedure import (
    VIA_EVALUATION,
    VIA_OBJECTION,
    VIA_PUBLICITY,
    VIA_SWEEP,
    Procedure,
    Trigger,
    publicity_transitions,
)


class State(StrEnum):
    """States of a county exit case."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    CITY_REVIEWED = "city_reviewed"
    PROVINCE_VERIFIED = "province_verified"
    PUBLICITY = "publicity"
    PROVINCE_REVIEW = "province_review"
    NATIONAL_EVALUATION = "national_evaluation"
    EVALUATED = "evaluated"
    APPROVED = "approved"
    ANNOUNCED = "announced"
    RECTIFICATION = "rectification"
    OBJECTION_REVIEW = "objection_review"


S = State

LABELS = {
    S.DRAFT: "草拟",
    S.PROPOSED: "县级已提出退出",
    S.CITY_REVIEWED: "市级已初审",
    S.PROVINCE_VERIFIED: "省级已核查",
    S.PUBLICITY: "公示中",
    S.PROVINCE_REVIEW: "省级审定中",
    S.NATIONAL_EVALUATION: "国家专项评估检查中",
    S.EVALUATED: "评估检查已通过",
    S.APPROVED: "省级政府已批准",
    S.ANNOUNCED: "已公告退出",
    S.RECTIFICATION: "整改中",
    S.OBJECTION_REVIEW: "异议核查中",
}

TRIGGERS = {
    t.code: t
    for t in [
        Trigger("propose", "提出退出", frozenset({"county"})),
        Trigger("review", "市级初审", frozenset({"city"})),
        Trigger("verify", "省级核查", frozenset({"province"})),
        Trigger("publicize", "公示", frozenset({"province"}), via=VIA_PUBLICITY),
        Trigger("close_window", "公示期满", frozenset({"system"}), via=VIA_SWEEP),
        Trigger("object", "提出异议", frozenset({"public"}), via=VIA_OBJECTION),
        Trigger("dismiss_objection", "异议不成立", frozenset({"county"})),
        Trigger("uphold_objection", "异议成立", frozenset({"county"})),
        Trigger("confirm", "省级确定并报国务院扶贫开发领导小组", frozenset({"province"})),
        Trigger(
            "evaluate", "专项评估检查通过", frozenset({"city", "province"}), via=VIA_EVALUATION
        ),
        Trigger(
            "fail_evaluation",
            "专项评估检查未通过",
            frozenset({"city", "province"}),
            via=VIA_EVALUATION,
        ),
        Trigger("approve", "省级政府批准退出", frozenset({"province"})),
        Trigger("announce", "公告退出", frozenset({"province"})),
        Trigger("reject", "退回", frozenset({"city", "province"})),
    ]
}

TRANSITIONS = [
    {
        "trigger": "propose",
        "source": [S.DRAFT, S.RECTIFICATION],
        "dest": S.PROPOSED,
        "conditions": ["county_incidence_below_threshold", "poor_villages_exited"],
    },
    {"trigger": "review", "source": S.PROPOSED, "dest": S.CITY_REVIEWED},
    {
        "trigger": "verify",
        "source": S.CITY_REVIEWED,
        "dest": S.RECTIFICATION,
        "conditions": ["visit_not_in_future", "verification_failed"],
    },
    {
        "trigger": "verify",
        "source": S.CITY_REVIEWED,
        "dest": S.PROVINCE_VERIFIED,
        "conditions": ["visit_not_in_future"],
    },
    {"trigger": "publicize", "source": S.PROVINCE_VERIFIED, "dest": S.PUBLICITY},
    *publicity_transitions(S.PUBLICITY, S.OBJECTION_REVIEW, S.PROVINCE_REVIEW, S.RECTIFICATION),
    {
        "trigger": "confirm",
        "source": S.PROVINCE_REVIEW,
        "dest": S.NATIONAL_EVALUATION,
        "conditions": ["county_incidence_below_threshold", "poor_villages_exited"],
    },
    {"trigger": "evaluate", "source": S.NATIONAL_EVALUATION, "dest": S.EVALUATED},
    {"trigger": "fail_evaluation", "source": S.NATIONAL_EVALUATION, "dest": S.RECTIFICATION},
    {"trigger": "approve", "source": S.EVALUATED, "dest": S.APPROVED},
    {"trigger": "announce", "source": S.APPROVED, "dest": S.ANNOUNCED},
    {
        "trigger": "reject",
        "source": [S.PROPOSED, S.CITY_REVIEWED, S.PROVINCE_VERIFIED, S.PROVINCE_REVIEW],
        "dest": S.DRAFT,
    },
]

PROCEDURE = Procedure(
    kind="county_exit",
    label="贫困县退出",
    states=State,
    labels={k.value: v for k, v in LABELS.items()},
    initial=S.DRAFT,
    triggers=TRIGGERS,
    transitions=TRANSITIONS,
    publicity_states={S.PUBLICITY: "county"},
    terminal=frozenset({S.ANNOUNCED}),
    deadlines={S.PROPOSED: "county_review", S.OBJECTION_REVIEW: "objection_resolution"},
    publicize={S.PROVINCE_VERIFIED: ("province", "county", "county")},
    subject_level="county",
    openers=frozenset({"county"}),
)
