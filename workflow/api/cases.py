"""Cases and their transitions, one at a time or in batch."""

from __future__ import annotations

import hashlib
import json

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from states.procedure import VIA_TRANSITION
from states.registry import PROCEDURES
from workflow import clock
from workflow.api import actor, body, bp, doc, load, page_args, query_int, schemas
from workflow.errors import TransitionNotAllowed, ValidationFailed
from workflow.extensions import db
from workflow.inputs import YEAR_MAX, YEAR_MIN, text_problem
from workflow.models import Case, IdempotencyRecord
from workflow.services import cases, transitions

# The roles that fire some trigger through the transitions endpoints.
_TRANSITION_ROLES = frozenset(
    role
    for p in PROCEDURES.values()
    for t in p.triggers.values()
    if t.via == VIA_TRANSITION
    for role in t.roles
)


def _trigger_data(trigger: str, data: dict) -> dict:
    known = {t for p in PROCEDURES.values() for t in p.triggers}
    if trigger not in known:
        raise TransitionNotAllowed(f"未知操作 {trigger} (unknown trigger)", trigger=trigger)
    schema = schemas.TRIGGER_DATA.get(trigger)
    if schema is None:
        if data:
            raise ValidationFailed("此操作不接受数据", {"data": ["must be empty"]})
        return {}
    try:
        return load(schema, data)
    except ValidationFailed as err:
        raise ValidationFailed(
            err.detail, {f"data.{k}": v for k, v in err.extra["errors"].items()}
        ) from None


@bp.post("/cases")
@doc("Open a case: household cases start in planned", schemas.CaseIn, status=201)
def create_case():
    data = load(schemas.CaseIn, body())
    case = cases.open_case(actor(), data["kind"], data["subject"], data["year"], clock.now())
    return cases.to_dict(case, actor(), detail=True), 201


@bp.get("/cases")
@doc(
    "List cases in the caller's region (filters kind, state, region_code, year, overdue)", many=True
)
def list_cases():
    page, per_page = page_args()
    filters = {k: request.args.get(k) for k in ("kind", "state", "region_code")}
    if request.args.get("overdue"):
        flag = request.args["overdue"].lower()
        if flag not in ("true", "false", "1", "0"):
            raise ValidationFailed("overdue 须为 true 或 false", {"overdue": ["true or false"]})
        filters["overdue"] = flag in ("true", "1")
    year = query_int("year", YEAR_MIN, YEAR_MAX)
    if year is not None:
        filters["year"] = year
    items, total = cases.listing(actor(), filters, page, per_page)
    return {
        "items": [cases.to_dict(c, actor()) for c in items],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


@bp.get("/cases/<id:case_id>")
@doc("A case with its data, the caller's allowed triggers and its full history")
def get_case(case_id: int):
    return cases.to_dict(cases.get(actor(), case_id), actor(), detail=True)


@bp.post("/cases/<id:case_id>/transitions")
@doc("Fire a trigger on a case; expected_version guards against lost updates", schemas.TransitionIn)
def fire_transition(case_id: int):
    data = load(schemas.TransitionIn, body())
    payload = _trigger_data(data["trigger"], data["data"])
    cases.get(actor(), case_id)
    db.session.rollback()
    transitions.fire_one(
        data["trigger"],
        case_id,
        actor(),
        payload,
        clock.now(),
        expected_version=data.get("expected_version"),
    )
    db.session.commit()
    return cases.to_dict(cases.get(actor(), case_id), actor(), detail=True)


@bp.post("/cases/batch-transitions")
@doc(
    "Fire a trigger on many cases; each case's outcome is reported",
    schemas.BatchIn,
    schemas.BatchOut,
)
def batch_transitions():
    raw = body()
    key = request.headers.get("Idempotency-Key", "").strip()
    if problem := text_problem(key, 200):  # the column is VARCHAR(200)
        raise ValidationFailed(f"Idempotency-Key {problem}", {"Idempotency-Key": [problem]})
    who = actor()
    if key:
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
        seen = db.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == who.id, IdempotencyRecord.key == key
            )
        )
        if seen is not None:
            if seen.request_hash != digest:
                raise ValidationFailed(
                    "Idempotency-Key 已用于另一请求",
                    {"Idempotency-Key": ["reused with a different body"]},
                )
            return seen.response, seen.status
    data = load(schemas.BatchIn, raw)
    payload = _trigger_data(data["trigger"], data["data"])
    if who.role not in _TRANSITION_ROLES:
        # 三员分立: admin, auditor and evaluators fire no trigger on a case; each id gets
        # the same answer, before any look-up, whether the case exists or not.
        detail = f"角色 {who.role} 不办理案件 (role not allowed)"
        return {
            "succeeded": [],
            "failed": [
                {"id": i, "status": 403, "detail": detail} for i in dict.fromkeys(data["case_ids"])
            ],
        }
    db.session.rollback()
    now = clock.now()
    outcome = transitions.fire_many(
        data["trigger"], data["case_ids"], who, payload, now, all_or_nothing=data["all_or_nothing"]
    )
    response = outcome.to_dict()
    if key:
        db.session.add(
            IdempotencyRecord(
                user_id=who.id,
                key=key,
                request_hash=digest,
                status=200,
                response=response,
                created_at=now,
            )
        )
    try:
        db.session.commit()
    except IntegrityError:  # the same key raced in another request: answer as it did
        db.session.rollback()
        seen = db.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == who.id, IdempotencyRecord.key == key
            )
        )
        return seen.response, seen.status
    return response


__all__ = ["Case"]
