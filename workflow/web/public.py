"""Public pages, no sign-in: open windows, the objection form, notice verification."""

from __future__ import annotations

import time

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db
from workflow.inputs import parse_int
from workflow.models import Case, Household, PublicityWindow, WindowCase
from workflow.security import limited
from workflow.services import notices, publicity
from workflow.web import bp
from workflow.web.session import check_csrf, web_actor

MIN_FILL_SECONDS = 3  # people take longer than this to write an objection; scripts do not


def _stamp() -> str:
    return URLSafeTimedSerializer(current_app.secret_key, salt="objection-form").dumps(time.time())


def _filled_too_fast(token: str) -> bool:
    try:
        started = URLSafeTimedSerializer(current_app.secret_key, salt="objection-form").loads(
            token, max_age=6 * 3600
        )
    except BadSignature:
        return True
    return time.time() - float(started) < MIN_FILL_SECONDS


@bp.get("/windows/<id:window_id>")
@limited("public_read", 120)
def window_page(window_id: int):
    """A publicity window with its list, the notice PDF and the objection form."""
    return _window(window_id)


def _window(window_id: int, form: dict | None = None, error: str | None = None, status=200):
    """The window's page; after a refused objection, with what was typed and why."""
    try:
        window = publicity.get_window(window_id, web_actor(), clock.now())
    except publicity.Gone as gone:
        return render_template(
            "web/public_gone.html", detail=gone.detail, code=gone.extra["code"]
        ), 410
    except ExitflowError:
        abort(404)
    rows = db.session.execute(
        select(WindowCase.position, Case.id, Household.group, Household.head_name, Household.size)
        .join(Case, Case.id == WindowCase.case_id)
        .outerjoin(Household, Household.id == Case.household_id)
        .where(WindowCase.window_id == window.id)
        .order_by(WindowCase.position)
    ).all()
    return render_template(
        "web/window.html",
        window=window,
        rows=rows,
        is_open=publicity.is_open(window, clock.now()),
        stamp=_stamp(),
        form=form or {},
        error=error,
    ), status


_FIELDS = ("case_id", "name", "phone", "address", "content")


@bp.post("/windows/<id:window_id>/objections")
@limited("objections", 10)
def object_to(window_id: int):
    """Lodge an objection: the service's rules (real name, a phone or an address, lengths,
    daily limits per window and per client), and the form's own anti-bot checks.

    A refusal shows the form again with everything the person typed and what to do;
    nothing typed ever goes into a URL.
    """
    check_csrf()
    clerk = web_actor()
    typed = {k: request.form.get(k, "")[:4000] for k in _FIELDS}
    window = db.session.get(PublicityWindow, window_id)
    # A village or township clerk of the window's area records an objection received
    # at the office; the anti-bot checks (a honeypot, a minimum fill time) are for the
    # public form.
    at_the_office = window is not None and publicity.records_at_office(clerk, window)
    if not at_the_office and request.form.get("website"):
        abort(400, description="表单无效,请刷新页面后重试")
    if not at_the_office and _filled_too_fast(request.form.get("stamp", "")):
        return _window(
            window_id,
            typed,
            "提交过快:为防止机器批量提交,请核对内容后再点一次“提交异议”。您填写的内容已保留。",
            422,
        )
    case_id = parse_int(typed["case_id"], 1) or 0
    contact = ";".join(part for part in (typed["phone"].strip(), typed["address"].strip()) if part)
    try:
        objection = publicity.lodge_objection(
            window_id,
            case_id,
            typed["content"],
            contact,
            clock.now(),
            name=typed["name"],
            client=request.remote_addr,
            clerk=clerk if at_the_office else None,
        )
    except ExitflowError as err:
        db.session.rollback()
        problems = ";".join(m for ms in (err.extra.get("errors") or {}).values() for m in ms)
        message = "未能提交:" + err.detail + (f"({problems})" if problems else "")
        return _window(
            window_id,
            typed,
            message + " 您填写的内容已保留,修改后可再次提交。",
            err.status if 400 <= err.status < 500 else 422,
        )
    flash(f"异议已登记(编号 {objection.id}),乡镇将调查核实并答复。")
    return redirect(url_for("web.window_page", window_id=window_id))


@bp.get("/verify")
@limited("public_read", 120)
def verify_page():
    """Check a notice's verification code."""
    code = request.args.get("code", "").strip()
    result = None
    if code:
        try:
            result = notices.verify(code)
        except ExitflowError:
            result = {"valid": False}
    return render_template("web/verify.html", code=code, result=result)


def open_windows(limit: int = 50) -> list[PublicityWindow]:
    """Windows open now."""
    now = clock.now()
    return list(
        db.session.scalars(
            select(PublicityWindow)
            .where(PublicityWindow.closed_at.is_(None), PublicityWindow.closes_at > now)
            .order_by(PublicityWindow.closes_at)
            .limit(limit)
        )
    )
