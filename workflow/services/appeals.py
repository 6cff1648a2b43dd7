"""申诉: the county disputes an evaluator's finding once; the province resolves it."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import Evaluation, Finding, Household
from workflow.services import audit
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)


def _finding(
    actor: Actor, evaluation_id: int, household_id: int
) -> tuple[Evaluation, Finding, Household]:
    # The region first, with the same answer as "no finding": a user outside the
    # household's region must not learn which households have a finding.
    household = db.session.get(Household, household_id)
    if household is None or not actor.covers(household.region_path):
        raise NotFound("没有该户的评估结果")
    evaluation = db.session.get(Evaluation, evaluation_id)
    finding = db.session.scalar(
        select(Finding).where(
            Finding.evaluation_id == evaluation_id, Finding.household_id == household_id
        )
    )
    if evaluation is None or finding is None:
        raise NotFound("没有该户的评估结果")
    if evaluation.closed_at is not None:
        raise Conflict("评估批次已关闭,不能再申诉")
    return evaluation, finding, household


def _record(actor: Actor, trigger: str, evaluation: Evaluation, household_id: int, now, data):
    household = db.session.get(Household, household_id)
    audit.record_event(
        trigger,
        actor,
        now,
        {"evaluation_id": evaluation.id, "household_id": household_id, **data},
        kind="evaluation",
        region_path=household.region_path if household else None,
    )


def appeal(
    actor: Actor, evaluation_id: int, household_id: int, reason: str, now: datetime
) -> Finding:
    """The county disputes a finding (once per finding, before the batch closes)."""
    if actor.role != "county":
        raise Forbidden("申诉由县级提出")
    evaluation, finding, household = _finding(actor, evaluation_id, household_id)
    if finding.appeal_status is not None:
        raise Conflict("每条评估结果只能申诉一次")
    if not reason.strip():
        raise ValidationFailed("请说明申诉理由", {"reason": ["required"]})
    finding.appeal_status, finding.appeal_reason, finding.appeal_by = "open", reason, actor.id
    _record(actor, "appeal", evaluation, household_id, now, {"reason": reason})
    db.session.commit()
    logger.info("appeal against evaluation %d, household %d", evaluation_id, household_id)
    return finding


def resolve(
    actor: Actor,
    evaluation_id: int,
    household_id: int,
    upheld: bool,
    resolution: str,
    now: datetime,
) -> Finding:
    """The province resolves an appeal; an upheld one overturns the disputed finding."""
    if actor.role != "province":
        raise Forbidden("申诉由省级裁定")
    evaluation, finding, household = _finding(actor, evaluation_id, household_id)
    if finding.appeal_status != "open":
        raise Conflict("没有待裁定的申诉")
    before = {"meets_criteria": finding.meets_criteria, "missed_poor": finding.missed_poor}
    finding.appeal_status = "upheld" if upheld else "rejected"
    finding.appeal_resolution, finding.appeal_resolved_by = resolution, actor.id
    if upheld:
        if finding.meets_criteria is False:
            finding.meets_criteria = True
        if finding.missed_poor is True:
            finding.missed_poor = False
    _record(
        actor,
        "resolve_appeal",
        evaluation,
        household_id,
        now,
        {"upheld": upheld, "resolution": resolution, "finding_before": before},
    )
    db.session.commit()
    return finding


def open_appeals(evaluation_id: int) -> int:
    """How many appeals of a batch await the province."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Finding)
            .where(Finding.evaluation_id == evaluation_id, Finding.appeal_status == "open")
        )
        or 0
    )
