"""Posting a publicity window from the pages: choose the cases, preview, post."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from states.rules import load_rule_set
from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db
from workflow.models import Case, Household, Region
from workflow.services import publicity
from workflow.web import bp
from workflow.web.forms import Form
from workflow.web.session import login_required, web_actor

# The API's bounds of a window's contact (workflow/api/schemas.py, ContactIn).
PHONE_MAX, ADDRESS_MAX = 40, 200


@bp.route("/windows/new", methods=["GET", "POST"])
@login_required("village", "township")
def post_window():
    """Choose the cases waiting for publicity in my region, preview, and post the window."""
    actor = web_actor()
    state = "appraised" if actor.role == "village" else "verified"
    waiting = db.session.scalars(
        select(Case)
        .where(
            Case.state == state,
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
        form = Form(request.form)
        chosen = form.ids("case_ids", "所选案件")
        contact = {
            "phone": form.text("phone", "异议受理电话", PHONE_MAX, required=True) or "",
            "address": form.text("address", "异议受理地址", ADDRESS_MAX, required=True) or "",
        }
        if contact["phone"] and len(contact["phone"]) < 3:
            form.add("phone", "异议受理电话至少需要 3 个字符")
        if not form.errors and not chosen:
            form.add("case_ids", "请先选择案件")
        if form.errors:
            return _page(waiting, households, form, "未能发布:" + form.summary(), 422)
        if not set(chosen) <= {c.id for c in waiting}:
            # Posted or moved on by someone else since the page was shown.
            form.add("case_ids", "所选案件已不在待公示名单中,请核对后重新选择")
            return _page(waiting, households, form, "未能发布:" + form.summary(), 409)
        if request.form.get("preview"):
            return _preview(actor, [c for c in waiting if c.id in set(chosen)], households, contact)
        try:
            window = publicity.post(actor, actor.region_code, chosen, contact, None, clock.now())
        except ExitflowError as err:
            db.session.rollback()
            status = err.status if 400 <= err.status < 500 else 422
            return _page(waiting, households, form, "未能发布:" + err.detail, status)
        flash(f"已发布公示「{window.title}」,公示期至 {window.last_day}")
        return redirect(url_for("web.window_page", window_id=window.id))
    return _page(waiting, households)


def _page(waiting, households, form: Form | None = None, failure=None, status=200):
    """The form; after a refusal, with the cases chosen and the contact typed."""
    return render_template(
        "web/post_window.html",
        waiting=waiting,
        households=households,
        form=form.data if form is not None else {},
        chosen=set(form.data.getlist("case_ids")) if form is not None else None,
        errors=form.errors if form is not None else {},
        failure=failure,
    ), status


def _preview(actor, picked, households, contact):
    """The notice as it would be posted today, marked 预览 and not issued."""
    from flask import Response

    from notices import render_pdf
    from states.calendar import publicity_period

    region = db.session.get(Region, actor.region_code)
    rules = load_rule_set(picked[0].rule_set)
    period = publicity_period(clock.now(), rules.publicity_days, rules.period_rule)
    context = {
        "title": f"{region.name}{picked[0].year}年拟退出贫困户名单公示(预览)",
        "issuer": region.name,
        "serial": "(预览,未发布)",
        "basis": "根据《关于建立贫困退出机制的意见》(厅字〔2016〕16号)",
        "steps_done": ["摸底调查", "村民代表民主评议"],
        "period": {"from": period.first_day.isoformat(), "to": period.last_day.isoformat()},
        "rows": [
            {
                "no": i,
                "group": households[c.household_id].group,
                "head_name": households[c.household_id].head_name,
                "people": households[c.household_id].size,
            }
            for i, c in enumerate(picked, start=1)
        ],
        "contact": contact,
        "issued_on": clock.local_today().isoformat(),
    }
    return Response(
        render_pdf("publicity", context),
        mimetype="application/pdf",
        headers={"Content-Disposition": 'inline; filename="preview.pdf"'},
    )
