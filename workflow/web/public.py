"""Public pages, no sign-in: open windows, the objection form, notice verification."""

from __future__ import annotations

import time

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from workflow import clock
from workflow.errors import ExitflowError
from workflow.extensions import db
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
    try:
        window = publicity.get_window(window_id, web_actor(), clock.now())
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
    )


@bp.post("/windows/<id:window_id>/objections")
@limited("objections", 10)
def object_to(window_id: int):
    """Lodge an objection (real name asked; a honeypot and a minimum fill time stop bots)."""
    check_csrf()
    clerk = web_actor()
    at_the_office = clerk is not None and clerk.role in ("village", "township")
    # A village or township clerk records an objection received at the office; the
    # anti-bot checks are for the anonymous public form.
    if not at_the_office and (
        request.form.get("website") or _filled_too_fast(request.form.get("stamp", ""))
    ):
        abort(400, description="提交过快或表单无效,请稍后重试")
    try:
        case_id = int(request.form.get("case_id", "0"))
        content = request.form.get("content", "").strip()
        name = request.form.get("name", "").strip()
        if len(content) < 5 or not name:
            raise ValueError
    except ValueError:
        flash("请填写实名和不少于5个字的异议内容", "error")
        return redirect(url_for("web.window_page", window_id=window_id))
    contact = f"{name} {request.form.get('phone', '').strip()}".strip()
    if at_the_office:
        contact = f"{contact}(由{clerk.display_name}在办公室代为登记)"
    try:
        objection = publicity.lodge_objection(window_id, case_id, content, contact, clock.now())
    except ExitflowError as err:
        db.session.rollback()
        flash("未能提交:" + err.detail, "error")
        return redirect(url_for("web.window_page", window_id=window_id))
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
