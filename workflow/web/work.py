"""Signing in, and each user's work list: what waits for me, what is overdue, what I did."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from states.procedure import VIA_TRANSITION
from states.registry import PROCEDURES
from workflow import clock
from workflow.errors import Unauthenticated
from workflow.extensions import db
from workflow.models import AuditRecord, Case, PublicityWindow
from workflow.security import LOGIN_PER_MINUTE, TooManyRequests, client_address, throttle
from workflow.services import users
from workflow.web import bp
from workflow.web.forms import Form, safe_next
from workflow.web.session import check_csrf, sign_in, sign_out, web_actor


@bp.get("/")
def index():
    """The signed-in user's work list; the public front page otherwise."""
    actor = web_actor()
    if actor is None:
        now = clock.now()
        windows = db.session.scalars(
            select(PublicityWindow)
            .where(PublicityWindow.closed_at.is_(None), PublicityWindow.closes_at > now)
            .order_by(PublicityWindow.closes_at)
            .limit(50)
        ).all()
        return render_template("web/index.html", windows=windows)
    waiting = []
    if actor.role not in ("admin", "auditor", "evaluator"):
        for proc in PROCEDURES.values():
            for code, spec in proc.triggers.items():
                # Side paths (defer, reject) are open almost everywhere; the list
                # shows the step each case waits for.
                if (
                    spec.via != VIA_TRANSITION
                    or actor.role not in spec.roles
                    or code in ("defer", "reject")
                ):
                    continue
                for state in sorted(proc.sources(code)):
                    count = db.session.scalar(
                        select(func.count())
                        .select_from(Case)
                        .where(
                            Case.kind == proc.kind,
                            Case.state == state,
                            Case.region_path.startswith(actor.region_path),
                        )
                    )
                    if count:
                        waiting.append(
                            {
                                "kind": proc.label,
                                "kind_code": proc.kind,
                                "state": state,
                                "label": proc.labels[state],
                                "action": spec.label,
                                "count": count,
                            }
                        )
    overdue = (
        db.session.scalars(
            select(Case)
            .where(Case.overdue.is_(True), Case.region_path.startswith(actor.region_path))
            .order_by(Case.deadline_at)
            .limit(20)
        ).all()
        if actor.role not in ("admin", "auditor", "evaluator")  # evaluators: their sample only
        else []
    )
    recent = db.session.scalars(
        select(AuditRecord)
        .where(AuditRecord.actor_id == actor.id)
        .order_by(AuditRecord.id.desc())
        .limit(15)
    ).all()
    return render_template(
        "web/home.html",
        actor=actor,
        waiting=waiting,
        overdue=overdue,
        recent=recent,
        labels={p.kind: p.labels for p in PROCEDURES.values()},
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a username and password."""
    if request.method == "POST":
        check_csrf()
        form = Form(request.form)
        username = form.text("username", "用户名", 64, required=True)
        password = form.raw("password")
        if not password:
            form.add("password", "密码不能为空")
        elif len(password) > 200:
            form.add("password", "密码长度不能超过 200 个字符")
        if form.errors:
            return render_template(
                "web/login.html",
                error=form.summary(),
                errors=form.errors,
                username=form.raw("username"),
            ), 422
        try:
            # Per client address across both login paths (the API's too), every worker.
            throttle("login", LOGIN_PER_MINUTE)
        except TooManyRequests as err:
            page = render_template(
                "web/login.html", error=err.detail, errors={}, username=form.raw("username")
            )
            return page, 429, {"Retry-After": str(err.extra["retry_after"])}
        try:
            user = users.authenticate(
                username, password, clock.now(), client=client_address(), via="web"
            )
        except Unauthenticated as err:
            return render_template(
                "web/login.html", error=err.detail, errors={}, username=form.raw("username")
            ), 401
        sign_in(user)
        # Only a path of this site (see forms.safe_next); anything else: the work list.
        return redirect(safe_next(request.args.get("next")) or url_for("web.index"))
    return render_template("web/login.html", error=None, errors={}, username="")


@bp.post("/logout")
def logout():
    """Sign out."""
    check_csrf()
    sign_out()
    flash("已退出登录")
    return redirect(url_for("web.index"))
