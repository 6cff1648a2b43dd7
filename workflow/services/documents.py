"""The documents of a case or an evaluation, as plain dicts for `notices.render_pdf`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from states.calendar import SHANGHAI
from states.rules import load_rule_set
from workflow.errors import Conflict, Forbidden, NotFound
from workflow.extensions import db
from workflow.models import Case, Household, Region, SignOff
from workflow.services import cases, evaluation, notices
from workflow.services.actors import Actor
from workflow.services.regions import rule_set_for

CASE_DOCUMENTS = ("survey_form", "appraisal_record", "verification_form")


def _household(case: Case) -> dict:
    household = db.session.get(Household, case.household_id)
    village = db.session.get(Region, household.village_code)
    return {
        "village": village.name,
        "group": household.group,
        "head_name": household.head_name,
        "people": household.size,
    }


def _day(value: str | None, fallback: datetime) -> str:
    return value or fallback.astimezone(SHANGHAI).date().isoformat()


def case_document(actor: Actor, case_id: int, kind: str, now: datetime) -> tuple[str, dict]:
    """(kind, context) of a household case's form; the step must have happened."""
    if kind not in CASE_DOCUMENTS:
        raise NotFound(f"没有文书 {kind}")
    case = cases.get(actor, case_id)
    if case.kind != "household_exit":
        raise NotFound("只有贫困户退出案件有这些文书")
    data = case.data
    village = db.session.get(Region, case.village_code)
    base = {
        "issuer": f"{village.name}村民委员会",
        "serial": f"案件{case.id}",
        "issued_on": now.astimezone(SHANGHAI).date().isoformat(),
    }
    if kind == "survey_form":
        survey = data.get("survey")
        if not survey:
            raise Conflict("尚未摸底调查")
        judgement = survey["judgement"]
        rules = load_rule_set(case.rule_set)
        return kind, {
            **base,
            "title": f"{case.year}年贫困户退出摸底调查表",
            "household": _household(case),
            "year": case.year,
            "surveyed_on": survey["surveyed_on"],
            "surveyors": survey["surveyors"],
            "income": {
                "value": judgement["income_per_capita"],
                "line": judgement["poverty_line"],
                "met": judgement["income_met"],
            },
            "indicators": [
                {
                    "label": judgement["indicators"][i.code]["label"],
                    "met": judgement["indicators"][i.code]["met"],
                }
                for i in rules.household_indicators
                if i.code in judgement["indicators"]
            ],
            "met": judgement["met"],
        }
    if kind == "appraisal_record":
        appraisal = data.get("appraisal")
        if not appraisal:
            raise Conflict("尚未民主评议")
        household = _household(case)
        return kind, {
            **base,
            "title": f"{village.name}{case.year}年民主评议会议记录",
            "village": village.name,
            "meeting_on": appraisal["meeting_on"],
            "representatives": appraisal.get("representatives"),
            "present": appraisal["present"],
            "minutes": appraisal.get("minutes"),
            "decisions": [
                {
                    "no": 1,
                    "group": household["group"],
                    "head_name": household["head_name"],
                    "votes_for": appraisal["votes_for"],
                    "votes_against": appraisal["votes_against"],
                    "result": "同意退出",
                }
            ],
        }
    rows = db.session.scalars(
        select(SignOff)
        .where(SignOff.case_id == case.id, SignOff.step == "verify")
        .order_by(SignOff.round.desc(), SignOff.id)
    ).all()
    if not rows:
        raise Conflict("尚无入户核实记录")
    latest = rows[0].round
    township = db.session.get(Region, village.parent_code)
    return kind, {
        **base,
        "issuer": f"{township.name}人民政府",
        "title": f"{case.year}年贫困户退出入户核实表",
        "household": _household(case),
        "round": latest,
        "verifiers": [
            {
                "name": s.signer_name,
                "result": s.result,
                "visited_on": s.visited_on.isoformat(),
                "notes": s.notes,
            }
            for s in rows
            if s.round == latest
        ],
    }


def evaluation_report(actor: Actor, evaluation_id: int, now: datetime) -> tuple[str, dict]:
    """(kind, context) of a closed evaluation's report."""
    ev = evaluation.get(actor, evaluation_id)
    if actor.role == "evaluator":
        raise Forbidden("评估报告由委托方查看")
    if ev.closed_at is None:
        raise Conflict("评估批次尚未关闭")
    scope = db.session.get(Region, ev.scope_code)
    rules = load_rule_set(rule_set_for(scope))
    sampled = evaluation.samples(ev)
    m, t = ev.metrics, rules.evaluation
    names = [
        ("wrong_exit_rate", "错退率", f"低于{t.wrong_exit_rate_max:g}%"),
        ("missed_rate", "漏评率", f"低于{t.missed_rate_max:g}%"),
        ("approval_rate", "群众认可度", f"不低于{t.approval_rate_min:g}%"),
    ]
    return "evaluation_report", {
        "title": f"{scope.name}{ev.year}年贫困退出第三方评估报告",
        "issuer": "第三方评估机构",
        "serial": f"评估〔{ev.year}〕{ev.id}号",
        "issued_on": ev.closed_at.astimezone(SHANGHAI).date().isoformat(),
        "scope": scope.name,
        "year": ev.year,
        "seed": ev.seed,
        "sample": {
            "registered": sum(1 for s in sampled if s.registered),
            "nonregistered": sum(1 for s in sampled if not s.registered),
            "villages": len({s.village_code for s in sampled}),
        },
        "rates": [{"name": label, **m[key], "threshold": rule} for key, label, rule in names],
        "passed": ev.passed,
        "reasons": m.get("reasons", []),
    }


def announce(actor: Actor, scope_code: str, year: int, now: datetime):
    """Issue the 公告 of a village's announced exits: how many households and people."""
    if actor.role != "county":
        raise Forbidden("退出公告由县级发布")
    scope = db.session.get(Region, scope_code)
    if scope is None or scope.level != "village" or not actor.covers(scope.path):
        raise NotFound(f"村 {scope_code} 不存在或不在您的辖区")
    rows = db.session.execute(
        select(Household.group, Household.head_name, Household.size)
        .join(Case, Case.household_id == Household.id)
        .where(
            Case.kind == "household_exit",
            Case.year == year,
            Case.village_code == scope_code,
            Case.state.in_(("announced", "exited")),
        )
        .order_by(Case.id)
    ).all()
    if not rows:
        raise Conflict(f"{scope.name} {year} 年没有已公告退出的贫困户")
    county = db.session.get(Region, actor.region_code)
    context = {
        "title": f"{scope.name}{year}年贫困户脱贫退出公告",
        "issuer": f"{county.name}扶贫开发领导小组",
        "decision": f"经{county.name}扶贫开发领导小组审定并经第三方评估,"
        f"同意{scope.name}下列贫困户于{year}年脱贫退出。",
        "households": len(rows),
        "people": sum(r.size for r in rows),
        "rows": [
            {"no": i, "group": r.group, "head_name": r.head_name, "people": r.size}
            for i, r in enumerate(rows, start=1)
        ],
        "issued_on": now.astimezone(SHANGHAI).date().isoformat(),
    }
    from sqlalchemy import func

    from workflow.models import Notice

    count = (
        db.session.scalar(
            select(func.count())
            .select_from(Notice)
            .where(
                Notice.kind == "announcement", Notice.serial.like(f"{county.name}公告〔{year}〕%")
            )
        )
        or 0
    )
    notice = notices.issue(
        "announcement", context, context["issuer"], f"{county.name}公告〔{year}〕{count + 1}号", now
    )
    db.session.commit()
    return notice
