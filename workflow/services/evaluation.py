"""Third-party evaluation batches: a reproducible sample, findings, the 三率一度, closing."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, insert, select

from states.criteria import Finding as CriteriaFinding
from states.criteria import evaluate
from states.procedure import VIA_EVALUATION
from states.rules import load_rule_set
from workflow.database import id_in
from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import Case, Evaluation, EvaluationSample, Finding, Household, Region, User
from workflow.services import appeals, regions, sampling, transitions
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)

COMMISSIONERS = {"city", "province"}


def create(
    actor: Actor,
    scope_code: str,
    year: int,
    sample_size: int,
    seed: int,
    nonregistered_sample_size: int,
    evaluators: list[str] | None,
    now: datetime,
    village_sample_size: int | None = None,
    households_per_village: int | None = None,
) -> Evaluation:
    """Draw the sample (reproducible by seed), assign it to the evaluators, and record how."""
    if actor.role not in COMMISSIONERS:
        raise Forbidden("第三方评估由市级或省级委托")
    scope = db.session.get(Region, scope_code)
    if scope is None or not actor.covers(scope.path):
        raise NotFound(f"地区 {scope_code} 不存在或不在您的辖区")
    for name in evaluators or []:
        user = db.session.scalar(select(User).where(User.username == name))
        if user is None or user.role != "evaluator":
            raise ValidationFailed(
                "评估人员不存在", {"evaluators": [f"{name} is not an evaluator"]}
            )
    sample = sampling.draw(
        scope,
        year,
        sample_size,
        seed,
        nonregistered_sample_size,
        village_sample_size,
        households_per_village,
    )
    evaluation = Evaluation(
        scope_code=scope.code,
        scope_path=scope.path,
        year=year,
        seed=seed,
        sample_size=sample_size,
        nonregistered_sample_size=nonregistered_sample_size,
        evaluators=list(evaluators or []),
        created_by=actor.id,
        created_at=now,
        design={
            "villages": sample["villages"],
            "village_sample_size": village_sample_size,
            "households_per_village": households_per_village,
        },
    )
    db.session.add(evaluation)
    db.session.flush()
    names = list(evaluators or [])
    rows = [
        {
            "evaluation_id": evaluation.id,
            "household_id": c.household_id,
            "case_id": c.id,
            "village_code": c.village_code,
            "registered": True,
        }
        for c in sample["registered"]
    ]
    rows += [
        {
            "evaluation_id": evaluation.id,
            "household_id": hid,
            "case_id": None,
            "village_code": village,
            "registered": False,
        }
        for hid, village in sample["nonregistered"]
    ]
    for i, row in enumerate(rows):  # each household to one named evaluator, in turn
        row["evaluator"] = names[i % len(names)] if names else None
    db.session.execute(insert(EvaluationSample), rows)
    db.session.commit()
    logger.info(
        "evaluation %d of %s %d: %d exited + %d non-registered sampled (seed %d)",
        evaluation.id,
        scope.code,
        year,
        len(sample["registered"]),
        len(sample["nonregistered"]),
        seed,
    )
    return evaluation


def get(actor: Actor, evaluation_id: int) -> Evaluation:
    """An evaluation the actor commissioned (by region) or is assigned to."""
    evaluation = db.session.get(Evaluation, evaluation_id)
    if evaluation is None or not _may_see(actor, evaluation):
        raise NotFound(f"评估批次 {evaluation_id} 不存在")
    return evaluation


def _may_see(actor: Actor, evaluation: Evaluation) -> bool:
    if actor.role == "evaluator":
        return _assigned(actor, evaluation)
    return actor.role in COMMISSIONERS and actor.covers(evaluation.scope_path)


def _assigned(actor: Actor, evaluation: Evaluation) -> bool:
    if evaluation.evaluators:
        return actor.username in evaluation.evaluators
    return evaluation.scope_path.startswith(actor.region_path)


def samples(evaluation: Evaluation, actor: Actor | None = None) -> list[EvaluationSample]:
    """The sampled households in a stable order; an evaluator sees only those assigned."""
    if actor is not None and actor.role == "evaluator":
        return [s for s in samples(evaluation) if s.evaluator in (None, actor.username)]
    return list(
        db.session.scalars(
            select(EvaluationSample)
            .where(EvaluationSample.evaluation_id == evaluation.id)
            .order_by(EvaluationSample.id)
        )
    )


def record_finding(
    actor: Actor,
    evaluation_id: int,
    household_id: int,
    meets_criteria,
    missed_poor,
    satisfied,
    now: datetime,
) -> Finding:
    """An evaluator's finding on a sampled household; a later one replaces it until closing."""
    record_findings(
        actor,
        evaluation_id,
        [
            {
                "household_id": household_id,
                "meets_criteria": meets_criteria,
                "missed_poor": missed_poor,
                "satisfied": satisfied,
            }
        ],
        now,
    )
    return db.session.scalar(
        select(Finding).where(
            Finding.evaluation_id == evaluation_id, Finding.household_id == household_id
        )
    )


def record_findings(actor: Actor, evaluation_id: int, findings: list[dict], now: datetime) -> int:
    """Record many findings of one evaluator in one transaction (all or none)."""
    if actor.role != "evaluator":
        raise Forbidden("只有第三方评估人员可以记录评估结果")
    evaluation = get(actor, evaluation_id)
    if evaluation.closed_at is not None:
        raise Conflict("评估批次已关闭")
    # An evaluator records findings only on the households assigned to them.
    sampled = {s.household_id: s.registered for s in samples(evaluation, actor)}
    errors: dict[str, list[str]] = {}
    for i, f in enumerate(findings):
        registered = sampled.get(f["household_id"])
        if registered is None:
            raise NotFound(f"贫困户 {f['household_id']} 不在本批评估样本中")
        if not registered and f.get("meets_criteria") is not None:
            errors[f"{i}.meets_criteria"] = ["非建档立卡户不判断是否错退 (must be null)"]
        if registered and f.get("missed_poor") is not None:
            errors[f"{i}.missed_poor"] = ["建档立卡户不判断是否漏评 (must be null)"]
    if errors:
        raise ValidationFailed("评估结果有误", errors)
    if not findings:
        return 0
    ids = [f["household_id"] for f in findings]
    sizes = dict(
        db.session.execute(
            select(Household.id, Household.size).where(id_in(Household.id, ids))
        ).all()
    )
    db.session.execute(
        delete(Finding).where(
            Finding.evaluation_id == evaluation.id, id_in(Finding.household_id, ids)
        )
    )
    db.session.execute(
        insert(Finding.__table__),
        [
            {
                "evaluation_id": evaluation.id,
                "household_id": f["household_id"],
                "evaluator_id": actor.id,
                "meets_criteria": f.get("meets_criteria"),
                "missed_poor": f.get("missed_poor"),
                "satisfied": f.get("satisfied"),
                "people": sizes[f["household_id"]],
                "recorded_at": now,
            }
            for f in findings
        ],
    )
    db.session.commit()
    return len(findings)


def metrics(evaluation: Evaluation):
    """The 三率一度 of the findings so far, with Wilson intervals."""
    sampled = {s.household_id: s for s in samples(evaluation)}
    found = db.session.scalars(select(Finding).where(Finding.evaluation_id == evaluation.id))
    findings = [
        CriteriaFinding(
            household_id=f.household_id,
            people=f.people,
            registered_exited=sampled[f.household_id].registered,
            meets_criteria=f.meets_criteria,
            missed_poor=f.missed_poor,
            satisfied=f.satisfied,
        )
        for f in found
    ]
    scope = db.session.get(Region, evaluation.scope_code)
    rules = load_rule_set(regions.rule_set_for(scope))
    return evaluate(rules, findings), findings


def close(actor: Actor, evaluation_id: int, now: datetime) -> Evaluation:
    """Close the batch: wrongly exited cases go back; on a pass the others move on."""
    if actor.role not in COMMISSIONERS:
        raise Forbidden("只有委托评估的市级或省级用户可以关闭评估批次")
    evaluation = get(actor, evaluation_id)
    if evaluation.closed_at is not None:
        raise Conflict("评估批次已关闭")
    if appeals.open_appeals(evaluation.id):
        raise Conflict("尚有申诉未裁定,不能关闭评估批次")
    result, findings = metrics(evaluation)
    wrong = {f.household_id for f in findings if f.registered_exited and f.meets_criteria is False}
    sampled = samples(evaluation)
    back = [s.case_id for s in sampled if s.case_id and s.household_id in wrong]
    audit_data = {"evaluation_id": evaluation.id}
    if back:
        transitions.fire_many(
            "fail_evaluation", back, actor, {}, now, via=VIA_EVALUATION, audit_data=audit_data
        )
    if result.passed:
        onward = list(
            db.session.scalars(
                select(Case.id).where(
                    Case.kind == "household_exit",
                    Case.year == evaluation.year,
                    Case.state == "filed",
                    Case.region_path.startswith(evaluation.scope_path),
                )
            )
        )
        if onward:
            transitions.fire_many(
                "evaluate", onward, actor, {}, now, via=VIA_EVALUATION, audit_data=audit_data
            )
    # A county under national evaluation (county_exit) passes or goes to 整改 with it.
    county_cases = list(
        db.session.scalars(
            select(Case.id).where(
                Case.kind == "county_exit",
                Case.region_code == evaluation.scope_code,
                Case.year == evaluation.year,
                Case.state == "national_evaluation",
            )
        )
    )
    if county_cases:
        transitions.fire_many(
            "evaluate" if result.passed else "fail_evaluation",
            county_cases,
            actor,
            {},
            now,
            via=VIA_EVALUATION,
            audit_data=audit_data,
        )
    evaluation.closed_at, evaluation.passed = now, result.passed
    evaluation.metrics = result.to_dict()
    db.session.commit()
    logger.info("evaluation %d closed: %s", evaluation.id, "passed" if result.passed else "failed")
    return evaluation
