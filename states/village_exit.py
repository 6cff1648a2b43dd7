"""The poor-village exit procedure (贫困村退出, 厅字〔2016〕16号; seed 002 “十一有一低于”) as data."""

from __future__ import annotations

from enum import StrEnum

from states.procedure import (
    VIA_OBJECTION,
    VIA_PUBLICITY,
    VIA_SWEEP,
    Procedure,
    Trigger,
    publicity_transitions,
)


class State(StrEnum):
    """States of a village exit case."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    COUNTY_VERIFICATION = "county_verification"
    VERIFIED = "verified"
    PUBLICITY = "publicity"
    COUNTY_REVIEW = "county_review"
    APPROVED = "approved"
    ANNOUNCED = "announced"
    OBJECTION_REVIEW = "objection_review"


S = State

LABELS = {
    S.DRAFT: "草拟",
    S.PROPOSED: "村级已申请退出",
    S.COUNTY_VERIFICATION: "县级核查中",
    S.VERIFIED: "县级已核查",
    S.PUBLICITY: "乡镇内公示中",
    S.COUNTY_REVIEW: "县级审定中",
    S.APPROVED: "已批准退出",
    S.ANNOUNCED: "已公告退出",
    S.OBJECTION_REVIEW: "异议核查中",
}

TRIGGERS = {
    t.code: t
    for t in [
        Trigger("propose", "申请退出", frozenset({"village"})),
        Trigger("review", "乡镇审核", frozenset({"township"})),
        Trigger("verify", "县级核查签字", frozenset({"county"}), signoff=True),
        Trigger("publicize", "张榜公示", frozenset({"township"}), via=VIA_PUBLICITY),
        Trigger("close_window", "公示期满", frozenset({"system"}), via=VIA_SWEEP),
        Trigger("object", "提出异议", frozenset({"public"}), via=VIA_OBJECTION),
        # The county resolves objections to village windows (DOMAIN.md).
        Trigger("dismiss_objection", "异议不成立", frozenset({"county"})),
        Trigger("uphold_objection", "异议成立", frozenset({"county"})),
        Trigger("approve", "县级批准退出", frozenset({"county"}), batch=True),
        Trigger("announce", "公告退出", frozenset({"county"}), batch=True),
        Trigger("reject", "退回", frozenset({"township", "county"})),
    ]
}

TRANSITIONS = [
    # Guards on live data at `propose` and again at `approve` (厅字〔2016〕16号).
    {
        "trigger": "propose",
        "source": S.DRAFT,
        "dest": S.PROPOSED,
        "conditions": ["village_incidence_below_threshold", "village_indicators_met"],
    },
    {"trigger": "review", "source": S.PROPOSED, "dest": S.COUNTY_VERIFICATION},
    {
        "trigger": "verify",
        "source": S.COUNTY_VERIFICATION,
        "dest": S.DRAFT,
        "conditions": ["verifier_independent", "visit_not_in_future", "verification_failed"],
    },
    {
        "trigger": "verify",
        "source": S.COUNTY_VERIFICATION,
        "dest": S.VERIFIED,
        "conditions": ["verifier_independent", "visit_not_in_future", "enough_verifiers"],
    },
    {
        "trigger": "verify",
        "source": S.COUNTY_VERIFICATION,
        "dest": None,
        "conditions": ["verifier_independent", "visit_not_in_future"],
    },
    {"trigger": "publicize", "source": S.VERIFIED, "dest": S.PUBLICITY},
    *publicity_transitions(S.PUBLICITY, S.OBJECTION_REVIEW, S.COUNTY_REVIEW, S.DRAFT),
    {
        "trigger": "approve",
        "source": S.COUNTY_REVIEW,
        "dest": S.APPROVED,
        "conditions": [
            "approver_not_verifier",
            "village_incidence_below_threshold",
            "village_indicators_met",
        ],
    },
    {"trigger": "announce", "source": S.APPROVED, "dest": S.ANNOUNCED},
    {
        "trigger": "reject",
        "source": [S.PROPOSED, S.COUNTY_VERIFICATION, S.VERIFIED, S.COUNTY_REVIEW],
        "dest": S.DRAFT,
    },
]

PROCEDURE = Procedure(
    kind="village_exit",
    label="贫困村退出",
    states=State,
    labels={k.value: v for k, v in LABELS.items()},
    initial=S.DRAFT,
    triggers=TRIGGERS,
    transitions=TRANSITIONS,
    publicity_states={S.PUBLICITY: "township"},
    terminal=frozenset({S.ANNOUNCED}),
    deadlines={
        S.COUNTY_VERIFICATION: "township_verification",
        S.COUNTY_REVIEW: "county_review",
        S.OBJECTION_REVIEW: "objection_resolution",
    },
    publicize={S.VERIFIED: ("township", "township", "township")},
    subject_level="village",
    openers=frozenset({"village", "township", "county"}),
)
