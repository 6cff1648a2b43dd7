"""What each trigger writes besides the case's state: step data, sign-offs, objections."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, literal, literal_column, select, update

from states.criteria import UnknownIndicator, judge_household, village_indicators_met
from states.guards import Firing
from states.rules import PovertyLineMissing
from workflow.database import id_in
from workflow.errors import ValidationFailed
from workflow.extensions import db
from workflow.models import CaseData, Household, Objection, SignOff
from workflow.services.actors import Actor
from workflow.services.bulk import ordered_ids

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
    # Its one data effect, a new verification round after a village window, is a
    # set-based JSON update in apply(): a province's midnight sweep moves a
    # million cases, whose JSON need not come to Python and back.
    "close_window",
}


_PREPARED = {"submit_survey", "dismiss_objection", *_STEP_KEYS}

# Steps that read only a few values of the case's data: a batch loads these paths
# (small JSON fragments), not the whole document, and writes back only the keys
# the step sets (_WRITES), each in place. Three sign-offs per household would
# otherwise decode every survey three times, and an appraisal decode and re-encode
# it. Each path is what the trigger's guards, facts.load and this module read; a
# guard that starts reading more of case_data for one of these triggers must add
# its path here.
_JUDGEMENT = ("survey", "judgement")
_READS: dict[str, tuple[tuple[str, ...], ...]] = {
    "verify": (
        ("verification_round",),
        ("survey", "by_id"),
        ("survey", "surveyors"),
        ("appraisal", "by_id"),
    ),
    # criteria_met: the stored judgement's verdict and, when not met, its reasons.
    "appraise": tuple(
        (*_JUDGEMENT, key)
        for key in ("met", "income_met", "income_per_capita", "poverty_line", "indicators")
    ),
    "submit_survey": (),  # its guards read the payload; it replaces the survey
}
# The top-level keys a step in _READS sets (nothing else of the data may change).
_WRITES: dict[str, frozenset[str]] = {
    "appraise": frozenset({"appraisal"}),
    "submit_survey": frozenset({"survey"}),
}
assert not _READS.keys() & _NO_DATA
assert all(
    (t in _PREPARED) == (t in _WRITES)
    and not any(p[0] in _WRITES.get(t, ()) and len(p) > 1 for p in paths)
    for t, paths in _READS.items()
), "a step writes only keys it set whole, and a step that prepares data declares them"


def prepares(trigger: str) -> bool:
    """Whether the trigger stages case data before firing."""
    return trigger in _PREPARED


def uses_case_data(trigger: str) -> bool:
    """Whether the trigger's guards or effects read or write the case's data."""
    return trigger not in _NO_DATA


def data_paths(trigger: str) -> tuple[tuple[str, ...], ...] | None:
    """The case-data paths the trigger reads when it reads only some (None: all of it)."""
    return _READS.get(trigger)


def data_writes(trigger: str) -> frozenset[str]:
    """The top-level case-data keys a trigger in data_paths may set (written in place)."""
    return _WRITES.get(trigger, frozenset())


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
        if _one_signoff_for_all(fired):
            _insert_signoffs(fired, actor, now)
            return
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
    elif trigger == "close_window":
        _next_verification_round([row.id for row, _ in fired if row.state == "village_publicity"])
    elif trigger == "record_exit":
        table = Household.__table__
        households = [row.household_id for row, _ in fired if row.household_id]
        if households:  # one statement, not one per household
            db.session.execute(
                update(table).where(id_in(table.c.id, households)).values(status="exited"),
                execution_options={"synchronize_session": False},
            )


def _one_signoff_for_all(fired: list) -> bool:
    """Whether a large batch signs every case with one payload in one round."""
    if len(fired) < 20:
        return False
    payload = fired[0][1].payload
    round_ = fired[0][1].case_data.get("verification_round", 1)
    return all(
        f.payload is payload and f.case_data.get("verification_round", 1) == round_
        for _, f in fired
    )


def _insert_signoffs(fired: list, actor: Actor, now: datetime) -> None:
    """One verifier's identical sign-off on every case of a batch, in one INSERT … SELECT.

    The shared values are bound once; the case ids come as one array, in the
    batch's order (the sign-offs are numbered as a row-by-row insert numbers them).
    """
    table = SignOff.__table__
    firing = fired[0][1]
    source, case_id, position = ordered_ids([row.id for row, _ in fired])
    shared = {
        "step": "verify",
        "round": firing.case_data.get("verification_round", 1),
        "user_id": actor.id,
        "signer_name": actor.display_name,
        "result": firing.payload["result"],
        "visited_on": _day(firing.payload["visited_on"]),
        "notes": firing.payload.get("notes"),
        "signed_at": now,
    }
    rows = (
        select(case_id, *(literal(v, type_=table.c[k].type) for k, v in shared.items()))
        .select_from(source)
        .order_by(position)
    )
    db.session.execute(insert(table).from_select(["case_id", *shared], rows))


def _next_verification_round(case_ids: list[int]) -> None:
    """`verification_round` + 1 in each case's data (each closed village window is
    verified afresh), in one statement."""
    if not case_ids:
        return
    table = CaseData.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        value = (
            "jsonb_set(COALESCE(data, '{}'::jsonb), '{verification_round}', "
            "to_jsonb(COALESCE((data->>'verification_round')::int, 0) + 1))"
        )
    else:
        value = (
            "json_set(COALESCE(data, '{}'), '$.verification_round', "
            "COALESCE(json_extract(data, '$.verification_round'), 0) + 1)"
        )
    db.session.execute(
        update(table).where(id_in(table.c.case_id, case_ids)).values(data=literal_column(value)),
        execution_options={"synchronize_session": False},
    )


def audit_payload(trigger: str, payload: dict) -> dict:
    """The trigger's data as recorded in the audit chain (JSON-safe)."""
    return _jsonable(payload)
