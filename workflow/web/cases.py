"""Case pages and the actions on them; posting a window; county batches across pages."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from states.registry import PROCEDURES, procedure
from states.rules import load_rule_set
from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db
from workflow.models import Case, Household, Objection, Region
from workflow.services import cases, transitions
from workflow.web import bp
from workflow.web.session import login_required, web_actor

PAGE = 50
BATCH_TRIGGERS = ("approve", "announce", "record_exit", "defer")


def _payload(trigger: str, form, rule_set: str) -> dict:
    """The form's fields as the trigger's data (the API's schemas then validate them)."""
    if trigger == "submit_survey":
        rules = load_rule_set(rule_set)
        return {
            "surveyed_on": form.get("surveyed_on"),
            "surveyors": [
                s.strip()
                for s in form.get("surveyors", "").replace("、", ",").split(",")
                if s.strip()
            ],
            "income_per_capita": form.get("income_per_capita") or None,
            "indicators": {
                i.code: form.get(f"ind_{i.code}") == "on" for i in rules.household_indicators
            },
        }
    if trigger == "appraise":
        return {
            k: form.get(k) or None
            for k in (
                "meeting_on",
                "present",
                "votes_for",
                "votes_against",
                "representatives",
                "minutes",
            )
        }
    if trigger == "verify":
        return {
            "result": form.get("result"),
            "visited_on": form.get("visited_on"),
            "notes": form.get("notes") or None,
        }
    if trigger in ("dismiss_objection", "uphold_objection"):
        return {
            "objection_id": int(form.get("objection_id") or 0),
            "finding": form.get("finding", ""),
        }
    if trigger in ("defer", "reject"):
        return {"reason": form.get("reason", "")}
    return {"note": form.get("note") or None}


def _validated(trigger: str, data: dict) -> dict:
    from workflow.api import schemas
    from workflow.api.cases import _trigger_data

    data = {k: v for k, v in data.items() if v is not None}
    return _trigger_data(trigger, data) if trigger in schemas.TRIGGER_DATA else {}


def _line(case: Case) -> float | str:
    try:
        return load_rule_set(case.rule_set).poverty_line(case.year).amount
    except LookupError:
        return ""


@bp.get("/cases/<id:case_id>")
@login_required()
def case_page(case_id: int):
    """A case: state, my actions, the full history, sign-offs and objections."""
    actor = web_actor()
    try:
        case = cases.get(actor, case_id)
    except ExitflowError:
        abort(404)
    info = cases.to_dict(case, actor, detail=True)
    from datetime import datetime

    from states.calendar import SHANGHAI

    for entry in info["history"]:
        entry["at_local"] = (
            datetime.fromisoformat(entry["at"]).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        )
    household = db.session.get(Household, case.household_id) if case.household_id else None
    proc = procedure(case.kind)
    open_objections = db.session.scalars(
        select(Objection).where(Objection.case_id == case.id, Objection.status == "open")
    ).all()
    return render_template(
        "web/case.html",
        case=info,
        household=household,
        proc=proc,
        triggers={t: proc.triggers[t] for t in info["allowed_triggers"]},
        indicators=load_rule_set(case.rule_set).household_indicators,
        open_objections=open_objections,
        poverty_line=_line(case),
        today=clock.local_today().isoformat(),
        form=request.args,
    )


@bp.post("/cases/<id:case_id>/<trigger>")
@login_required()
def case_action(case_id: int, trigger: str):
    """Fire one trigger from the case page; errors are shown on the page, input kept."""
    actor = web_actor()
    try:
        case = cases.get(actor, case_id)
    except ExitflowError as err:
        abort(403 if err.status == 403 else 404)
    try:
        payload = _validated(trigger, _payload(trigger, request.form, case.rule_set))
        db.session.rollback()
        state, _ = transitions.fire_one(
            trigger,
            case_id,
            actor,
            payload,
            clock.now(),
            expected_version=int(request.form.get("version", 0)) or None,
        )
        db.session.commit()
    except ExitflowError as err:
        db.session.rollback()
        if err.status in (403, 404):
            abort(err.status)
        details = err.extra.get("errors") or {}
        flash(
            "操作未完成:"
            + err.detail
            + "".join(f";{k}:{'、'.join(v)}" for k, v in details.items()),
            "error",
        )
        return redirect(url_for("web.case_page", case_id=case_id, **request.form.to_dict()))
    flash(
        f"已完成:{procedure(case.kind).triggers[trigger].label}(现状态:"
        f"{procedure(case.kind).labels.get(state, state)})"
    )
    return redirect(url_for("web.case_page", case_id=case_id))


def _filtered(actor, args):
    query = select(Case).where(Case.region_path.startswith(actor.region_path))
    if args.get("kind"):
        query = query.where(Case.kind == args["kind"])
    if args.get("state"):
        query = query.where(Case.state == args["state"])
    if args.get("region"):
        region = db.session.get(Region, args["region"])
        query = query.where(Case.region_path.startswith(region.path if region else "-"))
    if args.get("overdue"):
        query = query.where(Case.overdue.is_(True))
    return query


@bp.get("/cases")
@login_required("village", "township", "county", "city", "province")
def case_list():
    """Cases in my region with filters; select across pages for a batch action."""
    actor = web_actor()
    page = max(1, request.args.get("page", 1, type=int))
    query = _filtered(actor, request.args)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(query.order_by(Case.id).limit(PAGE).offset((page - 1) * PAGE)))
    regions = db.session.scalars(
        select(Region)
        .where(Region.path.startswith(actor.region_path), Region.level.in_(("township", "village")))
        .order_by(Region.code)
    ).all()
    states = {
        s: label for p in reversed(list(PROCEDURES.values())) for s, label in p.labels.items()
    }
    households = {
        h.id: h
        for h in db.session.scalars(
            select(Household).where(
                Household.id.in_([c.household_id for c in rows if c.household_id])
            )
        )
    }
    return render_template(
        "web/cases.html",
        rows=list(rows),
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        regions=regions,
        states=states,
        args=request.args,
        households=households,
        labels={p.kind: p.labels for p in PROCEDURES.values()},
        batch_triggers={
            t: PROCEDURES["household_exit"].triggers[t].label
            for t in BATCH_TRIGGERS
            if actor.role in PROCEDURES["household_exit"].roles_for(t)
        },
    )


@bp.post("/cases/batch")
@login_required("county", "township")
def batch():
    """Confirm, then run, one trigger on the selected cases (or all matching the filter)."""
    actor = web_actor()
    trigger = request.form.get("trigger", "")
    if trigger not in BATCH_TRIGGERS:
        abort(400, description="未知的批量操作")
    if request.form.get("all_matching") == "1":
        ids = list(
            db.session.scalars(
                _filtered(actor, request.form).with_only_columns(Case.id).order_by(Case.id)
            )
        )
    else:
        chosen = [int(i) for i in request.form.getlist("case_ids") if i.isdigit()]
        ids = (
            list(
                db.session.scalars(
                    select(Case.id)
                    .where(Case.id.in_(chosen), Case.region_path.startswith(actor.region_path))
                    .order_by(Case.id)
                )
            )
            if chosen
            else []
        )
    if not ids:
        flash("请先选择案件", "error")
        return redirect(url_for("web.case_list"))
    label = PROCEDURES["household_exit"].triggers[trigger].label
    if request.form.get("confirmed") != "1":
        return render_template(
            "web/batch_confirm.html", ids=ids, trigger=trigger, label=label, form=request.form
        )
    payload = {"reason": request.form.get("reason", "").strip()} if trigger == "defer" else {}
    if trigger == "defer" and not payload["reason"]:
        flash("暂缓退出须填写理由", "error")
        return redirect(url_for("web.case_list"))
    outcome = transitions.fire_many(trigger, ids, actor, payload, clock.now())
    db.session.commit()
    return render_template("web/batch_result.html", outcome=outcome, label=label)
