"""Third-party evaluation batches."""

from __future__ import annotations

from workflow import clock
from workflow.api import actor, body, bp, doc, load, schemas
from workflow.services import appeals, evaluation


def evaluation_dict(ev, who) -> dict:
    """An evaluation batch; evaluators see their sample and nothing of the metrics.

    `progress` counts the sampled households visited (a complete finding or a reason
    they could not be visited) out of all of them; an evaluator's, of those assigned.
    """
    sample = evaluation.samples(ev, who)
    found = evaluation.findings_by_household(ev)
    out = {
        "id": ev.id,
        "scope_code": ev.scope_code,
        "year": ev.year,
        "seed": ev.seed,
        "sample_size": ev.sample_size,
        "nonregistered_sample_size": ev.nonregistered_sample_size,
        "evaluators": ev.evaluators,
        "closed": ev.closed_at is not None,
        "design": ev.design,
        "sample": [
            {
                "household_id": s.household_id,
                "case_id": s.case_id,
                "village_code": s.village_code,
                "registered": s.registered,
                "evaluator": s.evaluator,
                "visited": evaluation.visited(s.registered, found.get(s.household_id)),
            }
            for s in sample
        ],
    }
    out["progress"] = {
        "visited": sum(1 for s in out["sample"] if s["visited"]),
        "total": len(sample),
    }
    if who.role != "evaluator":
        out["passed"] = ev.passed if ev.closed_at else None
        out["metrics"] = ev.metrics if ev.closed_at else evaluation.summary(ev)
    return out


@bp.post("/evaluations")
@doc(
    "Commission an evaluation batch: a reproducible stratified sample",
    schemas.EvaluationIn,
    status=201,
)
def create_evaluation():
    data = load(schemas.EvaluationIn, body())
    ev = evaluation.create(
        actor(),
        data["scope_code"],
        data["year"],
        data["sample_size"],
        data["seed"],
        data["nonregistered_sample_size"],
        data.get("evaluators"),
        clock.now(),
        village_sample_size=data.get("village_sample_size"),
        households_per_village=data.get("households_per_village"),
    )
    return evaluation_dict(ev, actor()), 201


@bp.get("/evaluations/<id:evaluation_id>")
@doc("An evaluation batch with its sample and metrics")
def get_evaluation(evaluation_id: int):
    return evaluation_dict(evaluation.get(actor(), evaluation_id), actor())


@bp.post("/evaluations/<id:evaluation_id>/findings")
@doc(
    "Record an evaluator's finding on a sampled household, or why it could not be visited",
    schemas.FindingIn,
    status=201,
)
def record_finding(evaluation_id: int):
    data = load(schemas.FindingIn, body())
    finding = evaluation.record_finding(
        actor(),
        evaluation_id,
        data["household_id"],
        data["meets_criteria"],
        data["missed_poor"],
        data["satisfied"],
        clock.now(),
        unreachable_reason=data["unreachable_reason"],
    )
    ev = evaluation.get(actor(), evaluation_id)
    return {
        "id": finding.id,
        "household_id": finding.household_id,
        "progress": evaluation.progress(ev, actor()),
    }, 201


@bp.post("/evaluations/<id:evaluation_id>/close")
@doc(
    "Close the batch (409 while sampled households are not visited): the 三率一度, "
    "cases moved on or back"
)
def close_evaluation(evaluation_id: int):
    ev = evaluation.close(actor(), evaluation_id, clock.now())
    return evaluation_dict(ev, actor())


@bp.post("/evaluations/<id:evaluation_id>/appeals")
@doc("The county disputes a finding (申诉, once per finding)", schemas.AppealIn, status=201)
def appeal_finding(evaluation_id: int):
    data = load(schemas.AppealIn, body())
    finding = appeals.appeal(
        actor(), evaluation_id, data["household_id"], data["reason"], clock.now()
    )
    return {"household_id": finding.household_id, "appeal_status": finding.appeal_status}, 201


@bp.post("/evaluations/<id:evaluation_id>/appeals/resolve")
@doc(
    "The province resolves an appeal; an upheld one overturns the finding",
    schemas.AppealResolutionIn,
)
def resolve_appeal(evaluation_id: int):
    data = load(schemas.AppealResolutionIn, body())
    finding = appeals.resolve(
        actor(),
        evaluation_id,
        data["household_id"],
        data["upheld"],
        data["resolution"],
        clock.now(),
    )
    return {
        "household_id": finding.household_id,
        "appeal_status": finding.appeal_status,
        "meets_criteria": finding.meets_criteria,
        "missed_poor": finding.missed_poor,
    }
