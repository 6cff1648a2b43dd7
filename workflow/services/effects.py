"""What each trigger writes besides the case's state: step data, sign-offs, objections."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, insert, update

from states.criteria import UnknownIndicator, judge_household, village_indicators_met
from states.guards import Firing
from states.rules import PovertyLineMissing
from workflow.errors import ValidationFailed
from workflow.extensions import db
from workflow.models import Household, Objection, SignOff
from workflow.services.actors import Actor

# Step data kept on the case under these keys, with who and when.
_STEP_KEYS = {
    "propose": "proposal",
    "appraise": "appraisal",
    "defer": "deferral",
    "reject": "rejection",
    "review": "review",
    "confirm": "confirmation",
}
# Steps whose guards and effects never read or write the case's data: a batch of
# them loads and rewrites no JSON (who approved, when, with what note, is in the
# audit record).
_NO_DATA = {
    "approve",
    "announce",
    "record_exit",
    "publicize",
    "evaluate",
    "fail_evaluation",
    "object",
    "uphold_objection",
}


_PREPARED = {"submit_survey", "close_window", "dismiss_objection", *_STEP_KEYS}


def prepares(trigger: str) -> bool:
    """Whether the trigger stages case data before firing."""
    return trigger in _PREPARED


def uses_case_data(trigger: str) -> bool:
    """Whether the trigger's guards or effects read or write the case's data."""
    return trigger not in _NO_DATA


def prepare(trigger: str, row, firing: Firing, actor: Actor, now: datetime) -> None:
    """Validate the trigger's data in the case's context and stage the case data it sets."""
    if trigger not in _PREPARED:
        return
    data = firing.case_data
    stamp = {
        "by": actor.username,
        "by_id": actor.id,
        "by_name": actor.display_name,
        "at": now.isoformat(),
    }
    if trigger == "submit_survey":
        p = firing.payload
        try:
            judgement = judge_household(
                firing.rules,
                row.year,
                p["income_per_capita"],
                p["indicators"],
                p.get("dibao_per_capita"),
            )
        except UnknownIndicator as err:
            raise ValidationFailed(
                "未知的指标 (unknown indicator)",
                {"indicators": [f"未知指标: {', '.join(err.codes)}"]},
            ) from None
        except PovertyLineMissing:
            raise ValidationFailed(
                f"规则集没有 {row.year} 年的扶贫标准", {"year": [f"no poverty line for {row.year}"]}
            ) from None
        data["survey"] = {**_jsonable(p), **stamp, "judgement": judgement.to_dict()}
    elif trigger in _STEP_KEYS:
        data[_STEP_KEYS[trigger]] = {**_jsonable(firing.payload), **stamp}
        if trigger == "defer":
            data["deferral"]["from_state"] = row.state
        if trigger == "propose":  # each proposal is verified afresh: a new sign-off round
            data["verification_round"] = data.get("verification_round", 0) + 1
        if trigger == "propose" and row.kind == "village_exit":
            try:
                village_indicators_met(firing.rules, firing.payload.get("indicators", {}))
            except UnknownIndicator as err:
                raise ValidationFailed(
                    "未知的指标 (unknown indicator)",
                    {"indicators": [f"未知指标: {', '.join(err.codes)}"]},
                ) from None
    elif trigger == "close_window" and row.state == "village_publicity":
        data["verification_round"] = data.get("verification_round", 0) + 1
    elif trigger == "dismiss_objection" and firing.facts.get("window_stage") == "village":
        if firing.facts.get("window_open") is False and not firing.facts.get(
            "other_open_objections"
        ):
            data["verification_round"] = data.get("verification_round", 0) + 1


def _day(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def _jsonable(payload: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in payload.items()}


def apply(trigger: str, fired: list, actor: Actor, now: datetime) -> None:
    """Write the side rows of a batch of fired cases (bulk statements)."""
    if trigger == "verify":
        db.session.execute(
            insert(SignOff.__table__),
            [
                {
                    "case_id": row.id,
                    "step": "verify",
                    "round": firing.case_data.get("verification_round", 1),
                    "user_id": actor.id,
                    "signer_name": actor.display_name,
                    "result": firing.payload["result"],
                    "visited_on": _day(firing.payload["visited_on"]),
                    "notes": firing.payload.get("notes"),
                    "signed_at": now,
                }
                for row, firing in fired
            ],
        )
    elif trigger in ("dismiss_objection", "uphold_objection"):
        status = "dismissed" if trigger == "dismiss_objection" else "upheld"
        for row, firing in fired:
            objection, finding = firing.facts["objection"], firing.payload["finding"]
            objection.status, objection.finding = status, finding
            objection.resolved_by, objection.resolved_at = actor.id, now
            if status == "upheld":
                # Other open objections on the case are answered by this finding,
                # recorded as such: an objection is never dropped.
                db.session.execute(
                    update(Objection)
                    .where(
                        Objection.case_id == row.id,
                        Objection.status == "open",
                        Objection.id != objection.id,
                    )
                    .values(
                        status="superseded",
                        resolved_by=actor.id,
                        resolved_at=now,
                        finding=f"随异议 #{objection.id} 成立一并处理:{finding}",
                    )
                )
        db.session.flush()
    elif trigger == "record_exit":
        db.session.execute(
            update(Household.__table__)
            .where(Household.__table__.c.id == bindparam("hid"))
            .values(status="exited"),
            [{"hid": row.household_id} for row, _ in fired if row.household_id],
            execution_options={"synchronize_session": False},
        )


def audit_payload(trigger: str, payload: dict) -> dict:
    """The trigger's data as recorded in the audit chain (JSON-safe)."""
    return _jsonable(payload)
