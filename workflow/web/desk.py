"""Desk pages: a 民主评议 meeting for many households, imports, objections, evaluations."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db
from workflow.models import Case, Evaluation, Household, Objection
from workflow.services import evaluation, imports, transitions
from workflow.web import bp
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
        from workflow.api.cases import _trigger_data

        common = {
            k: request.form.get(k)
            for k in ("meeting_on", "present", "representatives", "minutes")
            if request.form.get(k)
        }
        payloads, errors = {}, []
        for case in waiting:
            if request.form.get(f"include_{case.id}") != "on":
                continue
            data = {
                **common,
                "votes_for": request.form.get(f"for_{case.id}") or "0",
                "votes_against": request.form.get(f"against_{case.id}") or "0",
            }
            try:
                payloads[case.id] = _trigger_data("appraise", data)
            except ExitflowError as err:
                errors.append(
                    f"{households[case.household_id].head_name}:{err.detail} "
                    f"{err.extra.get('errors', '')}"
                )
        if errors or not payloads:
            flash("未记录:" + (";".join(errors) or "请至少选择一户"), "error")
            return render_template(
                "web/appraisal.html", waiting=waiting, households=households, form=request.form
            ), 422
        outcome = transitions.fire_many(
            "appraise", list(payloads), actor, {}, clock.now(), payloads=payloads
        )
        db.session.commit()
        flash(f"评议结果已记录:通过 {len(outcome.succeeded)} 户,未通过 {len(outcome.failed)} 户")
        return render_template("web/batch_result.html", outcome=outcome, label="民主评议")
    return render_template("web/appraisal.html", waiting=waiting, households=households, form={})


@bp.route("/imports", methods=["GET", "POST"])
@login_required("village", "township", "county")
def import_page():
    """Upload households (CSV or XLSX): all rows or none; errors by row and column."""
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("请选择文件", "error")
            return redirect(url_for("web.import_page"))
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
    return render_template("web/evaluations.html", rows=mine)


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

        def flag(name):
            value = request.form.get(name, "")
            return None if value == "" else value == "yes"

        findings = [
            {
                "household_id": s.household_id,
                "meets_criteria": flag(f"meets_{s.household_id}") if s.registered else None,
                "missed_poor": None if s.registered else flag(f"missed_{s.household_id}"),
                "satisfied": flag(f"satisfied_{s.household_id}"),
            }
            for s in sample
            if request.form.get(f"satisfied_{s.household_id}")
        ]
        try:
            evaluation.record_findings(actor, ev.id, findings, clock.now())
        except ExitflowError as err:
            db.session.rollback()
            flash("未保存:" + err.detail, "error")
        else:
            flash(f"已保存 {len(findings)} 户的评估结果")
        return redirect(url_for("web.evaluation_sample", evaluation_id=ev.id))
    households = {
        h.id: h
        for h in db.session.scalars(
            select(Household).where(Household.id.in_([s.household_id for s in sample]))
        )
    }
    return render_template("web/evaluation.html", ev=ev, sample=sample, households=households)
