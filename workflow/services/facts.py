"""What guards need to know beyond the case row, loaded for a whole batch in a few queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from workflow.clock import as_utc
from workflow.extensions import db
from workflow.models import Objection, PublicityWindow, SignOff


def _verify_signoffs(case_ids: list[int]) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for chunk in chunks(case_ids):
        rows = db.session.execute(
            select(SignOff.case_id, SignOff.round, SignOff.user_id, SignOff.result).where(
                SignOff.case_id.in_(chunk), SignOff.step == "verify"
            )
        )
        for r in rows:
            out[r.case_id].append(r)
    return out


def chunks(ids: list[int], size: int = 5000):
    """Slices of at most `size` ids (bound-parameter limits of SQLite and PostgreSQL)."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def load(trigger: str, rows: list, payload: dict, now: datetime, extra: dict | None) -> dict:
    """Facts per case id for the guards of `trigger`."""
    facts: dict[int, dict] = {r.id: dict(extra or {}) for r in rows}
    ids = [r.id for r in rows]
    if trigger == "verify":
        signoffs = _verify_signoffs(ids)
        for r in rows:
            round_ = (r.data or {}).get("verification_round", 1)
            survey, appraisal = (
                (r.data or {}).get("survey", {}),
                (r.data or {}).get("appraisal", {}),
            )
            this_round = [s for s in signoffs.get(r.id, []) if s.round == round_]
            facts[r.id].update(
                signed_ids={s.user_id for s in this_round},
                passing_ids={s.user_id for s in this_round if s.result == "pass"},
                surveyor_ids={survey.get("by_id")} - {None},
                surveyor_names=set(survey.get("surveyors", [])),
                appraiser_ids={appraisal.get("by_id")} - {None},
            )
    elif trigger == "approve":
        signoffs = _verify_signoffs(ids)
        for r in rows:
            facts[r.id]["verifier_ids"] = {s.user_id for s in signoffs.get(r.id, [])}
    elif trigger in ("dismiss_objection", "uphold_objection"):
        facts.update(_objection_facts(rows, payload.get("objection_id"), now))
    return facts


def _objection_facts(rows: list, objection_id, now: datetime) -> dict[int, dict]:
    out: dict[int, dict] = {r.id: {} for r in rows}
    objection = db.session.get(Objection, objection_id) if isinstance(objection_id, int) else None
    for r in rows:
        if objection is None or objection.case_id != r.id:
            out[r.id] = {"objection_status": None}
            continue
        window = db.session.get(PublicityWindow, objection.window_id)
        others = db.session.scalar(
            select(func.count())
            .select_from(Objection)
            .where(
                Objection.case_id == r.id,
                Objection.status == "open",
                Objection.id != objection.id,
            )
        )
        out[r.id] = {
            "objection_status": objection.status,
            "objection": objection,
            "window_stage": window.stage,
            "window_id": window.id,
            "window_open": window.closed_at is None and now < as_utc(window.closes_at),
            "other_open_objections": others or 0,
        }
    return out
