"""Desk pages: a 民主评议 meeting for many households, imports, objections, evaluations."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from workflow import clock
from workflow.errors import ExitflowError, ValidationFailed
from workflow.extensions import db
from workflow.inputs import text_problem
from workflow.models import Case, Evaluation, Household, Objection
from workflow.services import evaluation, imports, transitions
from workflow.web import bp
from workflow.web.cases import LABELS, MINUTES_MAX, VOTES_MAX
from workflow.web.forms import Form
from workflow.web.session import login_required, web_actor


@bp.route("/appraisal", methods=["GET", "POST"])
@login_required("village")
def appraisal():
    """Record one 民主评议 meeting: attendance once, the votes household by household."""
    actor = web_actor()
    waiting = db.session.scalars(
        select(Case)
        .where(
            Case.state == "surveyed",
            Case.kind == "household_exit",
            Case.region_path.startswith(actor.region_path),
        )
        .order_by(Case.id)
    ).all()
    households = {
        h.id: h
        for h in db.session.scalars(
            select(Household).where(Household.id.in_([c.household_id for c in waiting]))
        )
    }
    if request.method == "POST":
        form, payloads = _read_meeting(waiting, households)
        if form.errors:
            return render_template(
                "web/appraisal.html",
                waiting=waiting,
                households=households,
                form=request.form,
                errors=form.errors,
                failure="未记录:" + form.summary(),
            ), 422
        outcome = transitions.fire_many(
            "appraise", list(payloads), actor, {}, clock.now(), payloads=payloads
        )
        db.session.commit()
        flash(f"评议结果已记录:通过 {len(outcome.succeeded)} 户,未通过 {len(outcome.failed)} 户")
        return render_template("web/batch_result.html", outcome=outcome, label="民主评议")
    return render_template(
        "web/appraisal.html", waiting=waiting, households=households, form={}, errors={}
    )


def _read_meeting(waiting, households) -> tuple[Form, dict[int, dict]]:
    """The meeting's fields and each included household's votes, checked; the API's
    schema then validates each household's data (the payloads by case id)."""
    from workflow.api.cases import _trigger_data

    form = Form(request.form)
    payloads: dict[int, dict] = {}
    common = {
        "meeting_on": form.day("meeting_on", LABELS["meeting_on"]),
        "present": form.integer("present", LABELS["present"], 1, VOTES_MAX, required=True),
        "representatives": form.integer("representatives", LABELS["representatives"], 1, VOTES_MAX),
        "minutes": form.text("minutes", LABELS["minutes"], MINUTES_MAX, multiline=True),
    }
    common = {k: v for k, v in common.items() if v is not None}
    for case in waiting:
        if form.raw(f"include_{case.id}") != "on":
            continue
        name = households[case.household_id].head_name
        # A vote left blank counts as none.
        votes_for = form.integer(f"for_{case.id}", f"{name}的赞成票数", 0, VOTES_MAX) or 0
        against = form.integer(f"against_{case.id}", f"{name}的反对票数", 0, VOTES_MAX) or 0
        if form.errors:
            continue
        try:
            payloads[case.id] = _trigger_data(
                "appraise", {**common, "votes_for": votes_for, "votes_against": against}
            )
        except ValidationFailed as err:
            problems = "、".join(f"{k}: {v}" for k, v in (err.extra.get("errors") or {}).items())
            form.add(f"for_{case.id}", f"{name}:{err.detail}({problems})")
    if not payloads and not form.errors:
        form.add("include", "请至少选择一户")
    return form, payloads


@bp.route("/imports", methods=["GET", "POST"])
@login_required("village", "township", "county")
def import_page():
    """Upload households (CSV or XLSX): all rows or none; errors by row and column."""
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return render_template(
                "web/import.html", errors=[], detail="请选择文件", columns=imports.COLUMNS
            ), 422
        if problem := text_problem(upload.filename, 255):
            # The name is logged and shown: no control or direction characters in it.
            return render_template(
                "web/import.html", errors=[], detail="文件名" + problem, columns=imports.COLUMNS
            ), 422
        try:
            raw = upload.read()
        finally:
            upload.close()
        try:
            count = imports.import_households(web_actor(), upload.filename, raw, clock.now())
        except ExitflowError as err:
            db.session.rollback()
            return render_template(
                "web/import.html",
                errors=err.extra.get("errors", []),
                detail=err.detail,
                columns=imports.COLUMNS,
            ), 422
        flash(f"已导入 {count} 户")
        return redirect(url_for("web.import_page"))
    return render_template("web/import.html", errors=[], detail=None, columns=imports.COLUMNS)


@bp.get("/objections")
@login_required("township", "county")
def objections():
    """Open objections in my region, oldest first, each linking to its case."""
    actor = web_actor()
    rows = db.session.execute(
        select(Objection, Case)
        .join(Case, Case.id == Objection.case_id)
        .where(Objection.status == "open", Case.region_path.startswith(actor.region_path))
        .order_by(Objection.lodged_at)
    ).all()
    return render_template("web/objections.html", rows=rows)


@bp.get("/evaluations")
@login_required("evaluator", "city", "province")
def evaluations():
    """The evaluation batches I may see."""
    actor = web_actor()
    mine = []
    for ev in db.session.scalars(select(Evaluation).order_by(Evaluation.id.desc()).limit(100)):
        try:
            evaluation.get(actor, ev.id)
        except ExitflowError:
            continue
        mine.append(ev)
    progress = evaluation.progress_of([ev.id for ev in mine], actor)
    return render_template("web/evaluations.html", rows=mine, progress=progress)


@bp.route("/evaluations/<id:evaluation_id>", methods=["GET", "POST"])
@login_required("evaluator")
def evaluation_sample(evaluation_id: int):
    """My assigned households with the finding form (an evaluator sees only these)."""
    actor = web_actor()
    try:
        ev = evaluation.get(actor, evaluation_id)
    except ExitflowError:
        abort(404)
    sample = evaluation.samples(ev, actor)
    if request.method == "POST":
        form, findings = _read_findings(sample)
        status, failure = 422, None
        if not form.errors:
            try:
                evaluation.record_findings(actor, ev.id, findings, clock.now())
            except ExitflowError as err:
                db.session.rollback()
                if err.status in (403, 404):
                    abort(err.status)
                status = err.status if 400 <= err.status < 500 else 422
                # The service names each problem by position in the list (`0.satisfied`).
                fields = {v: k for k, v in FINDING_FIELDS.items()}
                for key, messages in (err.extra.get("errors") or {}).items():
                    index, _, name = key.partition(".")
                    if index.isdigit() and int(index) < len(findings) and name in fields:
                        household = findings[int(index)]["household_id"]
                        form.add(f"{fields[name]}_{household}", "".join(messages))
                failure = err.detail
            else:
                db.session.commit()
                flash(f"已保存 {len(findings)} 户的评估结果")
                return redirect(url_for("web.evaluation_sample", evaluation_id=ev.id))
        page = _render_evaluation(ev, actor, sample, form, "未保存:" + (failure or form.summary()))
        return page, status
    return _render_evaluation(ev, actor, sample)


# The form's field prefixes and the findings' fields (`meets_12` is household 12's answer).
FINDING_FIELDS = {
    "meets": "meets_criteria",
    "missed": "missed_poor",
    "satisfied": "satisfied",
    "unreachable": "unreachable_reason",
}


def _read_findings(sample) -> tuple[Form, list[dict]]:
    """Each filled row of the form as a finding; rows left blank are not touched, a
    half-filled row is refused by the service."""
    from workflow.services.evaluation import REASON_MAX

    form = Form(request.form)
    labels = {"meets": "是否达标", "missed": "是否漏评", "satisfied": "是否满意"}

    def flag(prefix, household_id):
        value = form.choice(f"{prefix}_{household_id}", labels[prefix], ("yes", "no"))
        return None if value is None else value == "yes"

    findings = []
    for s in sample:
        hid = s.household_id
        if not any(form.raw(f"{prefix}_{hid}").strip() for prefix in FINDING_FIELDS):
            continue
        findings.append(
            {
                "household_id": hid,
                "meets_criteria": flag("meets", hid) if s.registered else None,
                "missed_poor": None if s.registered else flag("missed", hid),
                "satisfied": flag("satisfied", hid),
                "unreachable_reason": form.text(
                    f"unreachable_{hid}", "无法走访原因", REASON_MAX, multiline=True
                ),
            }
        )
    return form, findings


def _render_evaluation(ev, actor, sample, form: Form | None = None, failure: str | None = None):
    households = {
        h.id: h
        for h in db.session.scalars(
            select(Household).where(Household.id.in_([s.household_id for s in sample]))
        )
    }
    found = evaluation.findings_by_household(ev)
    return render_template(
        "web/evaluation.html",
        ev=ev,
        sample=sample,
        households=households,
        found=found,
        visited={
            s.household_id: evaluation.visited(s.registered, found.get(s.household_id))
            for s in sample
        },
        progress=evaluation.progress(ev, actor),
        form=form.data if form is not None else {},
        errors=form.errors if form is not None else {},
        failure=failure,
    )
