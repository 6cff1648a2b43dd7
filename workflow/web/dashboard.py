"""Dashboards from province to village: progress, exits per subregion, incidence, overdue.

The figures come from the materialized region statistics (workflow/services/statistics.py),
never from counting the cases table on a page view; ?region=CODE drills down inside the
user's own subtree, ?page=N pages the villages 60 at a time.
"""

from __future__ import annotations

from flask import abort, current_app, render_template, request

from states.household_exit import PROCEDURE
from workflow import clock
from workflow.errors import NotFound
from workflow.inputs import parse_int
from workflow.services import statistics
from workflow.web import bp
from workflow.web.charts import bars
from workflow.web.session import login_required, web_actor

YEAR_MIN, YEAR_MAX = 2011, 2100  # the years a case may have (workflow/api/schemas.py)


@bp.get("/dashboard")
@login_required("township", "county", "city", "province")
def dashboard():
    """The year's progress in my region, as charts people would rather look at."""
    actor = web_actor()
    failure = None
    raw = request.args.get("year", "").strip()
    year = parse_int(raw, YEAR_MIN, YEAR_MAX) if raw else None
    if raw and year is None:
        failure = f"年份须为 {YEAR_MIN} 到 {YEAR_MAX} 之间的整数,已显示最近一年"
    page = parse_int(request.args.get("page"), 1, 1_000_000) or 1
    seconds, limit = statistics.settings(current_app.config)
    try:
        view = statistics.dashboard(
            actor, request.args.get("region"), year, page, clock.now(), seconds, limit
        )
    except NotFound:
        abort(404)
    year = view["year"]
    progress = [
        (PROCEDURE.labels[s], view["progress"][s])
        for s in PROCEDURE.state_codes()
        if view["progress"].get(s)
    ]
    exits = [(c["name"], c["rate"]) for c in view["children"] if c["rate"] is not None]
    incidence = [
        (v["name"], v["incidence"]) for v in view["villages"] if v["incidence"] is not None
    ]
    overdue = view["overdue"]
    return render_template(
        "web/dashboard.html",
        failure=failure,
        year=year,
        progress=bars(progress, "户"),
        exits=bars(exits, "%"),
        incidence=bars(incidence, "%", view["village_threshold"]),
        overdue=bars([(PROCEDURE.labels.get(s, s), n) for s, n in overdue.items()], "件"),
        stats=view,
    ), (422 if failure else 200)
