"""Case pages and the actions on them; posting a window; county batches across pages."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from states.registry import PROCEDURES, procedure
from states.rules import load_rule_set
from workflow import clock
from workflow.database import id_in
from workflow.errors import ExitflowError, ValidationFailed, VersionConflict
from workflow.extensions import db
from workflow.inputs import INT_MAX, parse_int
from workflow.models import Case, Household, Objection, Region
from workflow.services import cases, transitions
from workflow.web import bp
from workflow.web.forms import Form
from workflow.web.session import login_required, web_actor

PAGE = 50
BATCH_TRIGGERS = ("approve", "announce", "record_exit", "defer")


# What each field of the case page's forms is called on the page.
LABELS = {
    "surveyed_on": "调查日期",
    "surveyors": "调查人员",
    "income_per_capita": "年人均纯收入",
    "indicators": "指标",
    "meeting_on": "会议日期",
    "representatives": "应到代表",
    "present": "实到人数",
    "votes_for": "赞成票数",
    "votes_against": "反对票数",
    "minutes": "会议纪要",
    "result": "核实结果",
    "visited_on": "入户日期",
    "notes": "说明",
    "objection_id": "异议",
    "finding": "调查结论",
    "reason": "理由",
    "note": "备注",
}
VOTES_MAX = 10000  # the API's bounds (workflow/api/schemas.py)
INCOME_MAX = 10_000_000
MINUTES_MAX = 20000


def _read(trigger: str, form: Form, rule_set: str) -> dict:
    """The form's fields as the trigger's data, each checked (problems go to form.errors);
    the API's schemas then validate the data as they do for every client."""
    if trigger == "submit_survey":
        rules = load_rule_set(rule_set)
        names: list[str] = []
        listed = form.text("surveyors", LABELS["surveyors"], required=True)
        if listed:
            names = [s.strip() for s in re.split("[,,、]", listed) if s.strip()]
            if not 2 <= len(names) <= 20:
                form.add("surveyors", "调查人员须为 2 到 20 人(用逗号分隔)")
            elif any(len(n) > 50 for n in names):
                form.add("surveyors", "每位调查人员的姓名不能超过 50 个字")
        return {
            "surveyed_on": form.day("surveyed_on", LABELS["surveyed_on"]),
            "surveyors": names,
            "income_per_capita": form.amount(
                "income_per_capita", LABELS["income_per_capita"], INCOME_MAX, required=True
            ),
            "indicators": {
                i.code: form.raw(f"ind_{i.code}") == "on" for i in rules.household_indicators
            },
        }
    if trigger == "appraise":
        return {
            "meeting_on": form.day("meeting_on", LABELS["meeting_on"]),
            "representatives": form.integer(
                "representatives", LABELS["representatives"], 1, VOTES_MAX
            ),
            "present": form.integer("present", LABELS["present"], 1, VOTES_MAX, required=True),
            "votes_for": form.integer(
                "votes_for", LABELS["votes_for"], 0, VOTES_MAX, required=True
            ),
            "votes_against": form.integer(
                "votes_against", LABELS["votes_against"], 0, VOTES_MAX, required=True
            ),
            "minutes": form.text("minutes", LABELS["minutes"], MINUTES_MAX, multiline=True),
        }
    if trigger == "verify":
        return {
            "result": form.choice("result", LABELS["result"], ("pass", "fail"), required=True),
            "visited_on": form.day("visited_on", LABELS["visited_on"]),
            "notes": form.text("notes", LABELS["notes"], multiline=True),
        }
    if trigger in ("dismiss_objection", "uphold_objection"):
        objection_id = form.integer("objection_id", LABELS["objection_id"], 1, INT_MAX)
        if objection_id is None and "objection_id" not in form.errors:
            form.add("objection_id", "请选择异议")
        return {
            "objection_id": objection_id,
            "finding": form.text("finding", LABELS["finding"], required=True, multiline=True),
        }
    if trigger in ("defer", "reject"):
        return {"reason": form.text("reason", LABELS["reason"], required=True, multiline=True)}
    return {"note": form.text("note", LABELS["note"])}


def _validated(trigger: str, data: dict) -> dict:
    from workflow.api import schemas
    from workflow.api.cases import _trigger_data

    data = {k: v for k, v in data.items() if v is not None}
    return _trigger_data(trigger, data) if trigger in schemas.TRIGGER_DATA else {}


def _by_field(form: Form, errors: dict) -> None:
    """The API's per-field errors (`data.income_per_capita`: [...]) next to the form's fields."""
    for key, messages in errors.items():
        name = key.removeprefix("data.").split(".")[0]
        text = "、".join(str(m) for m in messages)
        if re.search("[\u4e00-\u9fff]", text):
            form.add(name, f"{LABELS.get(name, name)}:{text}")
        else:
            form.add(name, f"{LABELS.get(name, name)}输入有误({text})")


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
    return _render_case(actor, case)


def _render_case(actor, case: Case, form=None, failed: str | None = None, failure=None):
    """The case page; after a failed action, that action's form with the input and errors."""
    info = cases.to_dict(case, actor, detail=True)
    from datetime import datetime

    from states.calendar import SHANGHAI

    for entry in info["history"]:
        entry["at_local"] = (
            datetime.fromisoformat(entry["at"]).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        )
    household = db.session.get(Household, case.household_id) if case.household_id else None
    proc = procedure(case.kind)
    triggers = {t: proc.triggers[t] for t in info["allowed_triggers"]}
    if failed in proc.triggers and failed not in triggers and actor.role in proc.roles_for(failed):
        # Refused now (the case moved on): the form stays, with what was typed in it.
        triggers[failed] = proc.triggers[failed]
    open_objections = db.session.scalars(
        select(Objection).where(Objection.case_id == case.id, Objection.status == "open")
    ).all()
    return render_template(
        "web/case.html",
        case=info,
        household=household,
        proc=proc,
        triggers=triggers,
        indicators=load_rule_set(case.rule_set).household_indicators,
        open_objections=open_objections,
        poverty_line=_line(case),
        today=clock.local_today().isoformat(),
        form=form.data if form is not None else {},
        errors=form.errors if form is not None else {},
        failed=failed,
        failure=failure,
    )


@bp.post("/cases/<id:case_id>/<trigger>")
@login_required()
def case_action(case_id: int, trigger: str):
    """Fire one trigger from the case page. A refusal renders the page again (422 for
    invalid input, 409 for a refused transition) with the input kept and the errors
    next to their fields: form values never go into a URL."""
    actor = web_actor()
    try:
        case = cases.get(actor, case_id)
    except ExitflowError as err:
        abort(403 if err.status == 403 else 404)
    form = Form(request.form)
    version = None
    if form.raw("version").strip():
        version = parse_int(form.raw("version"), 1, INT_MAX)
        if version is None:
            form.add("version", "页面数据有误,请刷新页面后重试")
    status = 422
    try:
        data = _read(trigger, form, case.rule_set)
        if form.errors:
            raise ValidationFailed("输入有误")
        payload = _validated(trigger, data)
        db.session.rollback()
        state, _ = transitions.fire_one(
            trigger, case_id, actor, payload, clock.now(), expected_version=version
        )
        db.session.commit()
    except ExitflowError as err:
        db.session.rollback()
        if err.status in (403, 404):
            abort(err.status)
        status = err.status if 400 <= err.status < 500 else 422
        if isinstance(err, ValidationFailed):
            _by_field(form, err.extra.get("errors") or {})
            detail = form.summary() or err.detail
        elif isinstance(err, VersionConflict):
            detail = f"{err.detail}。案件已被他人更新,请核对当前状态后再提交"
        else:
            detail = err.detail
        try:
            case = cases.get(actor, case_id)
        except ExitflowError:
            abort(404)
        page = _render_case(actor, case, form, trigger, "操作未完成:" + detail)
        return page, status
    flash(
        f"已完成:{procedure(case.kind).triggers[trigger].label}(现状态:"
        f"{procedure(case.kind).labels.get(state, state)})"
    )
    return redirect(url_for("web.case_page", case_id=case_id))


FILTERS = ("region", "state", "overdue", "kind")


def _filters(source, form: Form) -> MultiDict:
    """The list's filters (query string or the batch form), each checked."""
    known_states = {s for p in PROCEDURES.values() for s in p.labels}
    out = MultiDict()
    for key in FILTERS:
        value = source.get(key, "") or ""
        if not value:
            continue
        if key == "kind" and value not in PROCEDURES:
            form.add(key, "案件类型无效")
        elif key == "state" and value not in known_states:
            form.add(key, "状态无效")
        elif key == "region" and not re.fullmatch(r"[0-9]{6}([0-9]{6})?", value):
            form.add(key, "地区代码须为 6 位或 12 位数字")
        else:
            out[key] = value
    return out


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
    form = Form(request.args)
    args = _filters(request.args, form)
    page = 1
    if form.raw("page").strip():
        page = form.integer("page", "页码", 1, 1_000_000) or 1
    if form.errors:
        return _render_list(args, 1, "筛选条件有误:" + form.summary()), 422
    return _render_list(args, page)


def _render_list(args: MultiDict, page: int, failure: str | None = None):
    actor = web_actor()
    query = _filtered(actor, args)
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
        args=args,
        households=households,
        labels={p.kind: p.labels for p in PROCEDURES.values()},
        batch_triggers={
            t: PROCEDURES["household_exit"].triggers[t].label
            for t in BATCH_TRIGGERS
            if actor.role in PROCEDURES["household_exit"].roles_for(t)
        },
        failure=failure,
    )


@bp.post("/cases/batch")
@login_required("county", "township")
def batch():
    """Confirm, then run, one trigger on the selected cases (or all matching the filter).

    A refusal shows the list (or the confirmation) again with status 422 and the reason;
    nothing of the form goes into a URL."""
    actor = web_actor()
    form = Form(request.form)
    args = _filters(request.form, form)
    trigger = form.choice("trigger", "批量操作", BATCH_TRIGGERS, required=True)
    if request.form.get("all_matching") == "1" and not form.errors:
        ids = list(
            db.session.scalars(_filtered(actor, args).with_only_columns(Case.id).order_by(Case.id))
        )
    else:
        chosen = form.ids("case_ids", "所选案件")
        ids = (
            list(
                db.session.scalars(
                    select(Case.id)
                    .where(id_in(Case.id, chosen), Case.region_path.startswith(actor.region_path))
                    .order_by(Case.id)
                )
            )
            if chosen and not form.errors
            else []
        )
    if not ids and not form.errors:
        form.add("case_ids", "请先选择案件")
    if form.errors:
        return _render_list(args, 1, "未办理:" + form.summary()), 422
    label = PROCEDURES["household_exit"].triggers[trigger].label
    if request.form.get("confirmed") != "1":
        return render_template(
            "web/batch_confirm.html", ids=ids, trigger=trigger, label=label, form={}, errors={}
        )
    payload = {}
    if trigger == "defer":
        payload["reason"] = form.text("reason", "暂缓理由", required=True, multiline=True)
    if form.errors:
        return render_template(
            "web/batch_confirm.html",
            ids=ids,
            trigger=trigger,
            label=label,
            form=request.form,
            errors=form.errors,
            failure="未办理:" + form.summary(),
        ), 422
    outcome = transitions.fire_many(trigger, ids, actor, payload, clock.now())
    db.session.commit()
    return render_template("web/batch_result.html", outcome=outcome, label=label)
