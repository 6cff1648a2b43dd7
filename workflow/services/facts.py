"""What guards need to know beyond the case row, loaded for a whole batch in a few queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from workflow.clock import as_utc
from workflow.database import id_in
from workflow.extensions import db
from workflow.models import CaseData, Objection, PublicityWindow, SignOff


def _verify_signoffs(case_ids: list[int]) -> dict[int, list[tuple]]:
    """(round, user_id, result) of every verification sign-off, per case."""
    out: dict[int, list[tuple]] = defaultdict(list)
    rows = db.session.execute(
        select(SignOff.case_id, SignOff.round, SignOff.user_id, SignOff.result).where(
            id_in(SignOff.case_id, case_ids), SignOff.step == "verify"
        )
    )
    for case_id, round_, user_id, result in rows:
        out[case_id].append((round_, user_id, result))
    return out


def chunks(ids: list[int], size: int = 5000):
    """Slices of at most `size` ids (bound-parameter limits of SQLite and PostgreSQL)."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def load(trigger: str, rows: list, payload: dict, actor, now: datetime, extra: dict | None) -> dict:
    """Facts per case id for the guards of `trigger` (guards only read them: shared dicts)."""
    ids = [r.id for r in rows]
    if trigger == "verify":
        signoffs = _verify_signoffs(ids)
        base = extra or {}
        facts: dict[int, dict] = {}
        # Cases with the same sign-offs, surveyors and appraiser share one facts
        # dict (the cases of a township's batch mostly do).
        same: dict[tuple, dict] = {}
        for r in rows:
            data = r.data or {}
            round_ = data.get("verification_round", 1)
            survey, appraisal = data.get("survey", {}), data.get("appraisal", {})
            surveyors = survey.get("surveyors", [])
            key = (
                round_,
                tuple(signoffs.get(r.id, ())),
                survey.get("by_id"),
                tuple(surveyors) if isinstance(surveyors, list) else id(surveyors),
                appraisal.get("by_id"),
            )
            known = same.get(key)
            if known is None:
                signed, passing = set(), set()
                for signed_round, user_id, result in signoffs.get(r.id, ()):
                    if signed_round == round_:
                        signed.add(user_id)
                        if result == "pass":
                            passing.add(user_id)
                known = {
                    **base,
                    "signed_ids": signed,
                    "passing_ids": passing,
                    "surveyor_ids": {survey.get("by_id")} - {None},
                    "surveyor_names": set(surveyors),
                    "appraiser_ids": {appraisal.get("by_id")} - {None},
                }
                if len(same) < 10_000:
                    same[key] = known
            facts[r.id] = known
        return facts
    if trigger == "approve":
        # Only whether the approver is among the verifiers matters: ask for
        # the approver's own sign-offs (usually none), not everyone's.
        signed = set(
            db.session.scalars(
                select(SignOff.case_id).where(
                    SignOff.user_id == actor.id,
                    SignOff.step == "verify",
                    id_in(SignOff.case_id, ids),
                )
            )
        )
        verifier = {**(extra or {}), "verifier_ids": {actor.id}}
        other = {**(extra or {}), "verifier_ids": set()}
        out = {i: verifier if i in signed else other for i in ids}
        for r in rows:  # village and county cases: live incidence at approval too
            if r.region_code:
                stored = db.session.get(CaseData, r.id)
                proposal = (stored.data if stored else {}).get("proposal") or {}
                out[r.id] = {
                    **out[r.id],
                    **region_facts(r),
                    "proposal_indicators": proposal.get("indicators", {}),
                }
        return out
    if trigger in ("dismiss_objection", "uphold_objection"):
        return _objection_facts(rows, payload.get("objection_id"), now)
    if trigger in ("propose", "confirm"):
        return {r.id: {**(extra or {}), **region_facts(r)} for r in rows}
    shared = dict(extra or {})
    return dict.fromkeys(ids, shared)


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


def region_facts(row) -> dict:
    """Live figures of a village or county case's region: incidence, poor villages exited."""
    from workflow.models import Case, Region
    from workflow.services.regions import incidence

    region = db.session.get(Region, row.region_code)
    numbers = incidence(region)
    out = {
        "incidence": numbers["incidence_rate"],
        "poor_people": numbers["poor_people_not_exited"],
        "population": numbers["rural_population"],
    }
    if region.level == "county":
        poor = list(
            db.session.scalars(
                select(Region.code).where(
                    Region.path.startswith(region.path),
                    Region.level == "village",
                    Region.is_poor.is_(True),
                )
            )
        )
        exited = (
            db.session.scalar(
                select(func.count())
                .select_from(Case)
                .where(
                    Case.kind == "village_exit",
                    Case.state == "announced",
                    Case.region_code.in_(poor),
                )
            )
            if poor
            else 0
        )
        out.update(poor_villages=len(poor), poor_villages_exited=exited or 0)
    return out
