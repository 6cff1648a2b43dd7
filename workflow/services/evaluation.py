"""Third-party evaluation batches: a reproducible sample, findings, the 三率一度, closing."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, case, delete, func, insert, or_, select

from states.criteria import Finding as CriteriaFinding
from states.criteria import evaluate
from states.procedure import VIA_EVALUATION
from states.rules import load_rule_set
from workflow.database import id_in
from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.inputs import text_problem
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
    if not sample["registered"]:
        # A batch that checks no exited household could only pass by default.
        raise Conflict(f"{scope.name} {year} 年所抽村中没有待评估(已批准备案)的退出户,样本为空")
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


def _locked(actor: Actor, evaluation_id: int) -> Evaluation:
    """`get`, with the batch's row locked until commit (PostgreSQL): recording a finding
    and closing the batch wait for each other, so no finding slips in after closing."""
    evaluation = get(actor, evaluation_id)
    db.session.refresh(evaluation, with_for_update=True)
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
    unreachable_reason: str | None = None,
) -> Finding:
    """An evaluator's finding on a sampled household; a later one replaces it until closing.

    Errors name the fields themselves (`missed_poor`), as the API's single finding does.
    """
    _record(
        actor,
        evaluation_id,
        [
            {
                "household_id": household_id,
                "meets_criteria": meets_criteria,
                "missed_poor": missed_poor,
                "satisfied": satisfied,
                "unreachable_reason": unreachable_reason,
            }
        ],
        now,
        indexed=False,
    )
    return db.session.scalar(
        select(Finding).where(
            Finding.evaluation_id == evaluation_id, Finding.household_id == household_id
        )
    )


def record_findings(actor: Actor, evaluation_id: int, findings: list[dict], now: datetime) -> int:
    """Record many findings of one evaluator in one transaction (all or none).

    Errors name the fields by position in the list (`0.missed_poor`).
    """
    return _record(actor, evaluation_id, findings, now, indexed=True)


# The answers a visit must give, by kind of sampled household (DOMAIN.md: per sampled
# household, meets the criteria or not, is poor but unregistered, satisfied or not).
ANSWERS = {True: ("meets_criteria", "satisfied"), False: ("missed_poor", "satisfied")}
REASON_MAX = 500
FIELD_NAMES = {
    "meets_criteria": "是否达标",
    "missed_poor": "是否漏评",
    "satisfied": "是否满意",
    "unreachable_reason": "无法走访原因",
}


def _problems(f: dict, registered: bool) -> dict[str, str]:
    """What is wrong with one finding, by field (empty when it may be recorded).

    - A registered (exited) household is never judged 漏评: `missed_poor` may be null or
      false (not applicable, stored as null); true is refused.
    - A non-registered household (the 漏评 sample) is never judged 错退: `meets_criteria`
      must be null.
    - Without `unreachable_reason`, the answers of its kind are required (registered:
      `meets_criteria` and `satisfied`; non-registered: `missed_poor` and `satisfied`).
    - With `unreachable_reason` (not blank), the answers must be null: the household was
      not visited, and counts against the batch (see `metrics`).
    """
    out: dict[str, str] = {}
    if registered and f.get("missed_poor") is True:
        out["missed_poor"] = "建档立卡户不判断是否漏评,只能为空或“否”"
    if not registered and f.get("meets_criteria") is not None:
        out["meets_criteria"] = "非建档立卡户不判断是否错退,只能为空"
    reason = f.get("unreachable_reason")
    if reason is not None:
        problem = (
            "无法走访原因不能为空"
            if not str(reason).strip()
            else text_problem(str(reason).strip(), REASON_MAX, multiline=True)
        )
        if problem:
            out["unreachable_reason"] = problem
        for name in ANSWERS[registered]:
            if f.get(name) is not None and name not in out:
                out[name] = "已填写无法走访原因,本项须为空"
    else:
        for name in ANSWERS[registered]:
            if f.get(name) is None and name not in out:
                out[name] = "必填(无法走访的户请填写无法走访原因)"
    return out


def _record(
    actor: Actor, evaluation_id: int, findings: list[dict], now: datetime, indexed: bool
) -> int:
    if actor.role != "evaluator":
        raise Forbidden("只有第三方评估人员可以记录评估结果")
    evaluation = _locked(actor, evaluation_id)
    if evaluation.closed_at is not None:
        raise Conflict("评估批次已关闭")
    # An evaluator records findings only on the households assigned to them.
    sampled = {s.household_id: s.registered for s in samples(evaluation, actor)}
    errors: dict[str, list[str]] = {}
    said: list[str] = []
    seen: set[int] = set()
    for i, f in enumerate(findings):
        registered = sampled.get(f["household_id"])
        if registered is None:
            raise NotFound(f"贫困户 {f['household_id']} 不在本批评估样本中")
        problems = _problems(f, registered)
        if f["household_id"] in seen:
            problems["household_id"] = "同一户填写了两次"
        seen.add(f["household_id"])
        for name, message in problems.items():
            errors[f"{i}.{name}" if indexed else name] = [message]
            label = "" if name == "household_id" else f" {FIELD_NAMES[name]}"
            said.append(f"户 {f['household_id']}{label}:{message}")
    if errors:
        more = f" 等 {len(said)} 处" if len(said) > 3 else ""
        raise ValidationFailed("评估结果有误:" + ";".join(said[:3]) + more, errors)
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
    rows = []
    for f in findings:
        registered = sampled[f["household_id"]]
        reason = f.get("unreachable_reason")
        rows.append(
            {
                "evaluation_id": evaluation.id,
                "household_id": f["household_id"],
                "evaluator_id": actor.id,
                "meets_criteria": f.get("meets_criteria") if registered else None,
                # Not applicable to a registered household: false is stored as null.
                "missed_poor": None if registered else f.get("missed_poor"),
                "satisfied": f.get("satisfied"),
                "unreachable_reason": reason.strip() if reason is not None else None,
                "people": sizes[f["household_id"]],
                "recorded_at": now,
            }
        )
    db.session.execute(insert(Finding.__table__), rows)
    db.session.commit()
    return len(findings)


def visited(registered: bool, finding: Finding | None) -> bool:
    """Whether a sampled household counts as visited: a reason it could not be visited,
    or every answer of its kind (`ANSWERS`)."""
    if finding is None:
        return False
    if finding.unreachable_reason:
        return True
    return all(getattr(finding, name) is not None for name in ANSWERS[registered])


def _visited_sql():
    """`visited` as SQL over EvaluationSample outer-joined to Finding."""
    s, f = EvaluationSample, Finding
    return or_(
        f.unreachable_reason.is_not(None),
        and_(
            f.satisfied.is_not(None),
            or_(
                and_(s.registered.is_(True), f.meets_criteria.is_not(None)),
                and_(s.registered.is_(False), f.missed_poor.is_not(None)),
            ),
        ),
    )


def progress_of(evaluation_ids: list[int], actor: Actor | None = None) -> dict[int, dict]:
    """{evaluation id: {visited, total}}; an evaluator counts only the households assigned."""
    s, f = EvaluationSample, Finding
    query = (
        select(
            s.evaluation_id,
            func.count(s.id),
            func.coalesce(func.sum(case((_visited_sql(), 1), else_=0)), 0),
        )
        .outerjoin(f, and_(f.evaluation_id == s.evaluation_id, f.household_id == s.household_id))
        .where(id_in(s.evaluation_id, list(evaluation_ids)))
        .group_by(s.evaluation_id)
    )
    if actor is not None and actor.role == "evaluator":
        query = query.where(or_(s.evaluator.is_(None), s.evaluator == actor.username))
    out = {i: {"visited": 0, "total": 0} for i in evaluation_ids}
    for evaluation_id, total, done in db.session.execute(query):
        out[evaluation_id] = {"visited": int(done), "total": int(total)}
    return out


def progress(evaluation: Evaluation, actor: Actor | None = None) -> dict:
    """{visited, total}: sampled households with a finding or an unreachable reason."""
    return progress_of([evaluation.id], actor)[evaluation.id]


def findings_by_household(evaluation: Evaluation) -> dict[int, Finding]:
    """The batch's findings, by household id."""
    return {
        f.household_id: f
        for f in db.session.scalars(select(Finding).where(Finding.evaluation_id == evaluation.id))
    }


def metrics(evaluation: Evaluation):
    """The 三率一度 of the findings so far, with Wilson intervals, and the verdict.

    How a household that could not be visited (`unreachable_reason`) counts — always
    against the batch, whatever else was recorded:
    - a registered (exited) household counts as NOT meeting the criteria (错退: its
      people are in the numerator and the denominator of 错退率) and as NOT satisfied
      (in the denominator of 群众认可度, not in its numerator);
    - a non-registered household counts as missed poor (漏评: its people are in the
      numerator and the denominator of 漏评率) and as NOT satisfied.
    Each of these only raises 错退率 / 漏评率 or lowers 认可度, so an unreachable
    household can never turn a failing batch into a passing one. On closing, its case
    goes back like a wrong exit (`close`).

    A batch passes only when 错退率 and 群众认可度 can be computed (at least one exited
    household counted): a batch without findings never passes. Findings that are not
    complete (`visited` false, from before answers were required) are left out.
    """
    found = findings_by_household(evaluation)
    findings = []
    away = 0
    for s in samples(evaluation):
        f = found.get(s.household_id)
        if not visited(s.registered, f):
            continue
        if f.unreachable_reason:
            away += 1
            findings.append(
                CriteriaFinding(
                    household_id=f.household_id,
                    people=f.people,
                    registered_exited=s.registered,
                    meets_criteria=False if s.registered else None,
                    missed_poor=None if s.registered else True,
                    satisfied=False,
                )
            )
        else:
            findings.append(
                CriteriaFinding(
                    household_id=f.household_id,
                    people=f.people,
                    registered_exited=s.registered,
                    meets_criteria=f.meets_criteria if s.registered else None,
                    missed_poor=None if s.registered else f.missed_poor,
                    satisfied=f.satisfied,
                )
            )
    scope = db.session.get(Region, evaluation.scope_code)
    rules = load_rule_set(regions.rule_set_for(scope))
    result = evaluate(rules, findings)
    notes = []
    if away:
        notes.append(f"{away} 户无法走访,按不达标(非建档户按漏评)、不满意计")
    if not result.wrong_exit_rate.denominator:
        notes.append("没有已走访的退出户,错退率无法计算,评估不能通过")
    if not result.approval_rate.denominator:
        notes.append("没有满意度记录,群众认可度无法计算,评估不能通过")
    passed = result.passed and bool(
        result.wrong_exit_rate.denominator and result.approval_rate.denominator
    )
    if notes:
        result = replace(result, passed=passed, reasons=(*result.reasons, *notes))
    return result, findings


def summary(evaluation: Evaluation) -> dict:
    """The metrics as stored and shown, with the households that could not be visited."""
    result, _ = metrics(evaluation)
    return {**result.to_dict(), "unreachable": _unreachable(evaluation)}


def _unreachable(evaluation: Evaluation) -> dict:
    rows = [f for f in findings_by_household(evaluation).values() if f.unreachable_reason]
    return {"households": len(rows), "people": sum(f.people for f in rows)}


def missing(evaluation: Evaluation) -> list[EvaluationSample]:
    """The sampled households not visited yet (no finding and no unreachable reason)."""
    found = findings_by_household(evaluation)
    return [s for s in samples(evaluation) if not visited(s.registered, found.get(s.household_id))]


MISSING_NAMED = 20
MISSING_IDS = 1000


def _refuse_missing(rows: list[EvaluationSample]) -> Conflict:
    """409 naming the households still to visit (the first 20 by name, then 等 N 户)."""
    shown = rows[:MISSING_NAMED]
    names = dict(
        db.session.execute(
            select(Household.id, Household.head_name).where(
                id_in(Household.id, [s.household_id for s in shown])
            )
        ).all()
    )
    listed = "、".join(f"{names.get(s.household_id, '')}(户 {s.household_id})" for s in shown)
    more = f" 等 {len(rows)} 户" if len(rows) > MISSING_NAMED else ""
    return Conflict(
        f"尚有 {len(rows)} 户未记录评估结果或无法走访原因,不能关闭评估批次:{listed}{more}",
        missing_count=len(rows),
        missing_household_ids=[s.household_id for s in rows[:MISSING_IDS]],
    )


def close(actor: Actor, evaluation_id: int, now: datetime) -> Evaluation:
    """Close the batch: wrongly exited cases go back; on a pass the others move on.

    Refused (409, naming the households) until every sampled household has a complete
    finding or a reason it could not be visited. The verdict is `metrics`'s: a household
    that could not be visited counts against the batch, and its case goes back
    (`fail_evaluation`, audited with `unreachable`) like a wrong exit, since nobody
    checked it.
    """
    if actor.role not in COMMISSIONERS:
        raise Forbidden("只有委托评估的市级或省级用户可以关闭评估批次")
    evaluation = _locked(actor, evaluation_id)
    if evaluation.closed_at is not None:
        raise Conflict("评估批次已关闭")
    if appeals.open_appeals(evaluation.id):
        raise Conflict("尚有申诉未裁定,不能关闭评估批次")
    not_visited = missing(evaluation)
    if not_visited:
        raise _refuse_missing(not_visited)
    result, _ = metrics(evaluation)
    found = findings_by_household(evaluation)
    sampled = samples(evaluation)
    wrong, unreachable = [], []
    for s in sampled:
        f = found.get(s.household_id)
        if not (s.registered and s.case_id and f is not None):
            continue
        if f.unreachable_reason:
            unreachable.append(s.case_id)
        elif f.meets_criteria is False:
            wrong.append(s.case_id)
    audit_data = {"evaluation_id": evaluation.id}
    if wrong:
        transitions.fire_many(
            "fail_evaluation", wrong, actor, {}, now, via=VIA_EVALUATION, audit_data=audit_data
        )
    if unreachable:
        transitions.fire_many(
            "fail_evaluation",
            unreachable,
            actor,
            {},
            now,
            via=VIA_EVALUATION,
            audit_data={**audit_data, "unreachable": True},
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
    evaluation.metrics = {**result.to_dict(), "unreachable": _unreachable(evaluation)}
    db.session.commit()
    logger.info("evaluation %d closed: %s", evaluation.id, "passed" if result.passed else "failed")
    return evaluation
