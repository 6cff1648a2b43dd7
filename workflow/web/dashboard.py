"""Dashboards for a county or township: progress, exits per village, incidence, overdue."""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import func, select

from states.household_exit import PROCEDURE
from states.rules import load_rule_set
from workflow.extensions import db
from workflow.models import Case, Region
from workflow.services import regions
from workflow.web import bp
from workflow.web.charts import bars
from workflow.web.session import login_required, web_actor


@bp.get("/dashboard")
@login_required("township", "county", "city", "province")
def dashboard():
    """The year's progress in my region, as charts people would rather look at."""
    actor = web_actor()
    year = request.args.get("year", type=int) or db.session.scalar(
        select(func.max(Case.year)).where(Case.region_path.startswith(actor.region_path))
    )
    by_state = dict(
        db.session.execute(
            select(Case.state, func.count())
            .where(
                Case.kind == "household_exit",
                Case.year == year,
                Case.region_path.startswith(actor.region_path),
            )
            .group_by(Case.state)
        ).all()
    )
    progress = [
        (PROCEDURE.labels[s], by_state[s]) for s in PROCEDURE.state_codes() if s in by_state
    ]
    villages = db.session.scalars(
        select(Region)
        .where(Region.path.startswith(actor.region_path), Region.level == "village")
        .order_by(Region.code)
        .limit(60)
    ).all()
    plan = dict(
        db.session.execute(
            select(Case.village_code, func.count())
            .where(
                Case.kind == "household_exit",
                Case.year == year,
                Case.region_path.startswith(actor.region_path),
            )
            .group_by(Case.village_code)
        ).all()
    )
    done = dict(
        db.session.execute(
            select(Case.village_code, func.count())
            .where(
                Case.kind == "household_exit",
                Case.year == year,
                Case.state == "exited",
                Case.region_path.startswith(actor.region_path),
            )
            .group_by(Case.village_code)
        ).all()
    )
    exits = [
        (v.name, round(100.0 * done.get(v.code, 0) / plan[v.code], 1))
        for v in villages
        if plan.get(v.code)
    ]
    incidence = []
    threshold = None
    for v in villages:
        rate = regions.incidence(v)["incidence_rate"]
        if rate is not None:
            incidence.append((v.name, round(rate, 2)))
            threshold = load_rule_set(regions.rule_set_for(v)).village_incidence_threshold
    overdue = dict(
        db.session.execute(
            select(Case.state, func.count())
            .where(Case.overdue.is_(True), Case.region_path.startswith(actor.region_path))
            .group_by(Case.state)
        ).all()
    )
    return render_template(
        "web/dashboard.html",
        year=year,
        progress=bars(progress, "户"),
        exits=bars(exits, "%"),
        incidence=bars(incidence, "%", threshold),
        overdue=bars([(PROCEDURE.labels.get(s, s), n) for s, n in overdue.items()], "件"),
    )
