"""Every route × every role × own region / foreign region / no login (等保2.0 access control).

The table below names the expected status of each route for each role, on an object
inside the caller's region ("own") and one outside it ("foreign"). The test walks the
application's URL map: a new route without an entry here fails it.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import update

from tests.factories import (
    APPRAISAL,
    PASSWORD,
    SURVEY,
    VILLAGE,
    add_household,
    set_now,
)
from workflow import clock
from workflow.extensions import db
from workflow.models import Case
from workflow.services import appeals, cases, evaluation, publicity, regions, transitions, users
from workflow.services.actors import from_user

ROLES = ["village", "township", "county", "city", "province", "evaluator", "admin", "auditor"]
USER = {
    "village": "village1",
    "township": "township1",
    "county": "county1",
    "city": "city1",
    "province": "province1",
    "evaluator": "evaluator1",
    "admin": "admin",
    "auditor": "auditor1",
}
FOREIGN_VILLAGE, FOREIGN_COUNTY = "451022100201", "451022"
_codes = itertools.count(100)


class Scene:
    """Fresh objects for each request, own or foreign."""

    def __init__(self, world):
        self.world = world
        regions.add_many(
            [
                dict(code="450000", name="广西壮族自治区", level="province"),
                dict(code="451000", name="百色市", level="city", parent_code="450000"),
                dict(
                    code=FOREIGN_COUNTY,
                    name="田东县",
                    level="county",
                    parent_code="451000",
                    is_poor=True,
                ),
                dict(code="451022100000", name="平马镇", level="township", parent_code="451022"),
                dict(
                    code=FOREIGN_VILLAGE,
                    name="那王村",
                    level="village",
                    parent_code="451022100000",
                    rural_population=900,
                    is_poor=True,
                ),
            ]
        )
        now = clock.now()
        for name, role, region in [
            ("fv", "village", FOREIGN_VILLAGE),
            ("ft", "township", "451022100000"),
            ("fc", "county", FOREIGN_COUNTY),
            ("fp", "province", "450000"),
        ]:
            users.create(name, PASSWORD, role, region, name, now, commit=False)
        users.create("auditor1", PASSWORD, "auditor", None, "审计", now, commit=False)
        db.session.commit()
        from sqlalchemy import select

        from workflow.models import User

        self.foreign = {
            u.username: from_user(u)
            for u in db.session.scalars(
                select(User).where(User.username.in_(("fv", "ft", "fc", "fp")))
            )
        }

    def village(self, own):
        return VILLAGE if own else FOREIGN_VILLAGE

    def household(self, own):
        return add_household(
            self.world["village1"] if own else self.foreign["fv"], self.village(own)
        )

    def case(self, own, state="planned"):
        opener = self.world["township1"] if own else self.foreign["ft"]
        [cid] = cases.open_household_cases(opener, [self.household(own)], 2019, clock.now())
        if state != "planned":
            db.session.execute(update(Case).where(Case.id == cid).values(state=state))
        db.session.commit()
        return cid

    def appraised(self, own):
        cid = self.case(own)
        clerk = self.world["village1"] if own else self.foreign["fv"]
        for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
            transitions.fire_one(trigger, cid, clerk, payload, clock.now())
        db.session.commit()
        return cid

    def window(self, own):
        clerk = self.world["village1"] if own else self.foreign["fv"]
        cid = self.appraised(own)
        window = publicity.post(
            clerk, self.village(own), [cid], {"phone": "1", "address": "a"}, None, clock.now()
        )
        return window, cid

    def closed_evaluation(self, own):
        ev = self.evaluation(own)
        who = self.world["province1"] if own else self.foreign["fp"]
        return evaluation.close(who, ev.id, clock.now())

    def evaluation(self, own, evaluators=None):
        self.case(own, "filed")
        who = self.world["province1"] if own else self.foreign["fp"]
        scope = "430623" if own else FOREIGN_COUNTY
        return evaluation.create(who, scope, 2019, 1, 1, 0, evaluators, clock.now())


def _json(method, path, body=None):
    return {"method": method, "path": path, "json": body}


# Each route: a function (scene, own) -> request, and the expected status per role as
# (own, foreign); "anon" is the answer without credentials.
def _household_body(scene, own):
    from datetime import date

    from states.identity import make_id_number

    n = next(_codes)
    return {
        "village_code": scene.village(own),
        "group": "一组",
        "head_name": "甲",
        "head_id_number": make_id_number("430623", date(1970, 1, 1 + n % 28), n),
        "members": [],
    }


def _finding(scene, own):
    ev = scene.evaluation(own, ["evaluator1"])
    return _json(
        "POST",
        f"/api/v1/evaluations/{ev.id}/findings",
        {
            "household_id": evaluation.samples(ev)[0].household_id,
            "meets_criteria": True,
            "satisfied": True,
        },
    )


def _appeal(scene, own, resolve=False):
    ev = scene.evaluation(own, ["evaluator1"])
    hid = evaluation.samples(ev)[0].household_id
    evaluation.record_findings(
        scene.world["evaluator1"],
        ev.id,
        [{"household_id": hid, "meets_criteria": False, "missed_poor": None, "satisfied": True}],
        clock.now(),
    )
    if resolve:
        appeals.appeal(
            scene.world["county1"] if own else scene.foreign["fc"],
            ev.id,
            hid,
            "有证明材料",
            clock.now(),
        )
        return _json(
            "POST",
            f"/api/v1/evaluations/{ev.id}/appeals/resolve",
            {"household_id": hid, "upheld": False, "resolution": "维持"},
        )
    return _json(
        "POST",
        f"/api/v1/evaluations/{ev.id}/appeals",
        {"household_id": hid, "reason": "有证明材料"},
    )


def _import_csv(scene, own) -> bytes:
    body = _household_body(scene, own)
    return (
        "村代码,村民小组,户主姓名,户主身份证号\n"
        f"{body['village_code']},一组,乙,{body['head_id_number']}\n"
    ).encode()


ALL_OK = {r: (200, 200) for r in ROLES}
STAFF = ("village", "township", "county", "city", "province")


def _web(method, path, form=None):
    """A page request: made with a signed-in session (and its CSRF token), not a token."""
    return {"method": method, "path": path, "json": None, "form": form, "web": True}


ROUTES = {
    ("GET", "/static/<path:filename>"): (lambda s, o: _json("GET", "/static/app.css"), ALL_OK, 200),
    ("GET", "/api/v1/openapi.json"): (
        lambda s, o: _json("GET", "/api/v1/openapi.json"),
        ALL_OK,
        200,
    ),
    ("POST", "/api/v1/auth/token"): (
        lambda s, o: _json(
            "POST", "/api/v1/auth/token", {"username": "county1", "password": PASSWORD}
        ),
        ALL_OK,
        200,
    ),
    ("POST", "/api/v1/auth/revoke"): (
        lambda s, o: _json("POST", "/api/v1/auth/revoke"),
        ALL_OK,
        401,
    ),
    ("POST", "/api/v1/regions"): (
        lambda s, o: _json(
            "POST",
            "/api/v1/regions",
            {"code": f"{next(_codes) + 110000}", "name": "新省", "level": "province"},
        ),
        {**{r: (403, 403) for r in ROLES}, "admin": (201, 201)},
        401,
    ),
    ("GET", "/api/v1/regions"): (lambda s, o: _json("GET", "/api/v1/regions"), ALL_OK, 401),
    ("GET", "/api/v1/regions/<code>"): (
        lambda s, o: _json("GET", f"/api/v1/regions/{s.village(o)}"),
        ALL_OK,
        401,
    ),
    ("POST", "/api/v1/users"): (
        lambda s, o: _json(
            "POST",
            "/api/v1/users",
            {
                "username": f"u{next(_codes)}",
                "password": PASSWORD,
                "role": "village",
                "region_code": s.village(o),
            },
        ),
        {**{r: (403, 403) for r in ROLES}, "admin": (201, 201)},
        401,
    ),
    ("PATCH", "/api/v1/users/<username>"): (
        lambda s, o: _json("PATCH", f"/api/v1/users/{'village2' if o else 'fv'}", {"active": True}),
        {**{r: (403, 403) for r in ROLES}, "admin": (200, 200)},
        401,
    ),
    ("POST", "/api/v1/households"): (
        lambda s, o: _json("POST", "/api/v1/households", _household_body(s, o)),
        {
            **{r: (403, 403) for r in ROLES},
            "village": (201, 403),
            "township": (201, 403),
            "county": (201, 403),
        },
        401,
    ),
    ("GET", "/api/v1/households"): (
        lambda s, o: _json("GET", "/api/v1/households"),
        {**ALL_OK, "evaluator": (403, 403), "admin": (403, 403), "auditor": (403, 403)},
        401,
    ),
    ("GET", "/api/v1/households/<id:household_id>"): (
        lambda s, o: _json("GET", f"/api/v1/households/{s.household(o)}"),
        {
            **{r: (200, 404) for r in ("village", "township", "county", "city", "province")},
            "evaluator": (403, 403),
            "admin": (403, 403),
            "auditor": (403, 403),
        },
        401,
    ),
    ("POST", "/api/v1/cases"): (
        lambda s, o: _json(
            "POST",
            "/api/v1/cases",
            {"kind": "household_exit", "subject": s.household(o), "year": 2019},
        ),
        {**{r: (403, 403) for r in ROLES}, "township": (201, 404), "county": (201, 404)},
        401,
    ),
    ("GET", "/api/v1/cases"): (
        lambda s, o: _json("GET", "/api/v1/cases"),
        {**ALL_OK, "admin": (403, 403), "auditor": (403, 403)},
        401,
    ),
    ("GET", "/api/v1/cases/<id:case_id>"): (
        lambda s, o: _json("GET", f"/api/v1/cases/{s.case(o)}"),
        {
            **{r: (200, 404) for r in ("village", "township", "county", "city", "province")},
            "evaluator": (404, 404),
            "admin": (403, 403),
            "auditor": (403, 403),
        },
        401,
    ),
    ("POST", "/api/v1/cases/<id:case_id>/transitions"): (
        lambda s, o: _json(
            "POST",
            f"/api/v1/cases/{s.case(o)}/transitions",
            {"trigger": "defer", "data": {"reason": "外出务工"}},
        ),
        {
            "village": (200, 404),
            "township": (200, 404),
            "county": (200, 404),
            "city": (403, 404),
            "province": (403, 404),
            "evaluator": (404, 404),
            "admin": (403, 403),
            "auditor": (403, 403),
        },
        401,
    ),
    ("POST", "/api/v1/cases/batch-transitions"): (
        lambda s, o: _json(
            "POST",
            "/api/v1/cases/batch-transitions",
            {"trigger": "defer", "case_ids": [s.case(o)], "data": {"reason": "外出"}},
        ),
        ALL_OK,
        401,
    ),
    ("POST", "/api/v1/publicity-windows"): (
        lambda s, o: _json(
            "POST",
            "/api/v1/publicity-windows",
            {
                "scope_code": s.village(o),
                "case_ids": [s.appraised(o)],
                "contact": {"phone": "123", "address": "村委会"},
            },
        ),
        {
            **{r: (403, 403) for r in ROLES},
            "village": (201, 404),
            "township": (403, 404),
            "province": (403, 404),
        },
        401,
    ),
    ("GET", "/api/v1/publicity-windows/<id:window_id>"): (
        lambda s, o: _json("GET", f"/api/v1/publicity-windows/{s.window(o)[0].id}"),
        ALL_OK,
        200,
    ),
    ("GET", "/api/v1/publicity-windows/<id:window_id>/notice.pdf"): (
        lambda s, o: _json("GET", f"/api/v1/publicity-windows/{s.window(o)[0].id}/notice.pdf"),
        ALL_OK,
        200,
    ),
    ("POST", "/api/v1/publicity-windows/<id:window_id>/objections"): (
        lambda s, o: (
            lambda w: _json(
                "POST",
                f"/api/v1/publicity-windows/{w[0].id}/objections",
                {"case_id": w[1], "content": "收入情况需要核实"},
            )
        )(s.window(o)),
        {r: (201, 201) for r in ROLES},
        201,
    ),
    ("GET", "/api/v1/notices/<code>"): (
        lambda s, o: _json("GET", f"/api/v1/notices/{s.window(o)[0].code}"),
        ALL_OK,
        200,
    ),
    ("POST", "/api/v1/evaluations"): (
        lambda s, o: (
            s.case(o, "filed"),
            _json(
                "POST",
                "/api/v1/evaluations",
                {
                    "scope_code": "430623" if o else FOREIGN_COUNTY,
                    "year": 2019,
                    "sample_size": 1,
                    "seed": 1,
                },
            ),
        )[1],
        {**{r: (403, 403) for r in ROLES}, "city": (201, 404), "province": (201, 404)},
        401,
    ),
    ("GET", "/api/v1/evaluations/<id:evaluation_id>"): (
        lambda s, o: _json("GET", f"/api/v1/evaluations/{s.evaluation(o, ['evaluator1']).id}"),
        {
            **{r: (404, 404) for r in ROLES},
            "city": (200, 404),
            "province": (200, 404),
            "evaluator": (200, 200),
        },
        401,
    ),
    ("POST", "/api/v1/evaluations/<id:evaluation_id>/findings"): (
        _finding,
        {**{r: (403, 403) for r in ROLES}, "evaluator": (201, 201)},
        401,
    ),
    ("POST", "/api/v1/evaluations/<id:evaluation_id>/close"): (
        lambda s, o: _json("POST", f"/api/v1/evaluations/{s.evaluation(o).id}/close"),
        {**{r: (403, 403) for r in ROLES}, "city": (200, 404), "province": (200, 404)},
        401,
    ),
    ("POST", "/api/v1/evaluations/<id:evaluation_id>/appeals"): (
        _appeal,
        {**{r: (403, 403) for r in ROLES}, "county": (201, 404)},
        401,
    ),
    ("POST", "/api/v1/evaluations/<id:evaluation_id>/appeals/resolve"): (
        lambda s, o: _appeal(s, o, resolve=True),
        {**{r: (403, 403) for r in ROLES}, "province": (200, 404)},
        401,
    ),
    ("PUT", "/api/v1/testing/clock"): (
        lambda s, o: _json("PUT", "/api/v1/testing/clock", {"now": "2019-11-20T09:00:00+08:00"}),
        {**{r: (403, 403) for r in ROLES}, "admin": (200, 200)},
        401,
    ),
    ("POST", "/api/v1/imports/households"): (
        lambda s, o: {
            "method": "POST",
            "path": "/api/v1/imports/households",
            "json": None,
            "data": {"file": (__import__("io").BytesIO(_import_csv(s, o)), "h.csv")},
        },
        {
            **{r: (403, 403) for r in ROLES},
            "village": (201, 422),
            "township": (201, 422),
            "county": (201, 422),
        },
        401,
    ),
    ("GET", "/api/v1/imports/households/template.csv"): (
        lambda s, o: _json("GET", "/api/v1/imports/households/template.csv"),
        ALL_OK,
        401,
    ),
    ("GET", "/api/v1/notices/<code>/pdf"): (
        lambda s, o: _json("GET", f"/api/v1/notices/{s.window(o)[0].code}/pdf"),
        ALL_OK,
        200,
    ),
    ("POST", "/api/v1/notices/<code>/corrections"): (
        lambda s, o: _json(
            "POST", f"/api/v1/notices/{s.window(o)[0].code}/corrections", {"note": "更正名单"}
        ),
        {**{r: (403, 403) for r in ROLES}, "village": (201, 403)},
        401,
    ),
    ("POST", "/api/v1/announcements"): (
        lambda s, o: (
            s.case(o, "announced"),
            _json("POST", "/api/v1/announcements", {"scope_code": s.village(o), "year": 2019}),
        )[1],
        {**{r: (403, 403) for r in ROLES}, "county": (201, 404)},
        401,
    ),
    ("GET", "/api/v1/cases/<id:case_id>/documents/<kind>.pdf"): (
        lambda s, o: _json("GET", f"/api/v1/cases/{s.appraised(o)}/documents/survey_form.pdf"),
        {
            **{r: (200, 404) for r in ("village", "township", "county", "city", "province")},
            "evaluator": (404, 404),
            "admin": (403, 403),
            "auditor": (403, 403),
        },
        401,
    ),
    ("GET", "/api/v1/evaluations/<id:evaluation_id>/report.pdf"): (
        lambda s, o: _json("GET", f"/api/v1/evaluations/{s.closed_evaluation(o).id}/report.pdf"),
        {
            **{r: (404, 404) for r in ROLES},
            "city": (200, 404),
            "province": (200, 404),
            "evaluator": (403, 404),
        },
        401,
    ),
    ("GET", "/"): (lambda s, o: _web("GET", "/"), ALL_OK, 200),
    ("GET", "/login"): (lambda s, o: _web("GET", "/login"), ALL_OK, 200),
    ("POST", "/login"): (
        lambda s, o: _web("POST", "/login", {"username": "county1", "password": PASSWORD}),
        {r: (302, 302) for r in ROLES},
        302,
    ),
    ("POST", "/logout"): (
        lambda s, o: _web("POST", "/logout"),
        {r: (302, 302) for r in ROLES},
        302,
    ),
    ("GET", "/verify"): (lambda s, o: _web("GET", "/verify?code=X"), ALL_OK, 200),
    ("GET", "/cases"): (
        lambda s, o: _web("GET", "/cases"),
        {**{r: (403, 403) for r in ROLES}, **{r: (200, 200) for r in STAFF}},
        302,
    ),
    ("GET", "/cases/<id:case_id>"): (
        lambda s, o: _web("GET", f"/cases/{s.case(o)}"),
        {**{r: (404, 404) for r in ROLES}, **{r: (200, 404) for r in STAFF}},
        302,
    ),
    ("POST", "/cases/<id:case_id>/<trigger>"): (
        lambda s, o: _web("POST", f"/cases/{s.case(o)}/defer", {"reason": "外出务工"}),
        {
            **{r: (403, 403) for r in ("evaluator", "admin", "auditor")},
            "evaluator": (404, 404),
            "village": (302, 404),
            "township": (302, 404),
            "county": (302, 404),
            "city": (403, 404),
            "province": (403, 404),
        },
        302,
    ),
    ("POST", "/cases/batch"): (
        lambda s, o: _web(
            "POST",
            "/cases/batch",
            {"trigger": "approve", "case_ids": str(s.case(o, "county_review"))},
        ),
        {**{r: (403, 403) for r in ROLES}, "county": (200, 302), "township": (200, 302)},
        302,
    ),
    ("GET", "/windows/new"): (
        lambda s, o: _web("GET", "/windows/new"),
        {**{r: (403, 403) for r in ROLES}, "village": (200, 200), "township": (200, 200)},
        302,
    ),
    ("POST", "/windows/new"): (
        lambda s, o: _web(
            "POST",
            "/windows/new",
            {"case_ids": str(s.appraised(o)), "phone": "1", "address": "村委会"},
        ),
        {**{r: (403, 403) for r in ROLES}, "village": (302, 422), "township": (422, 422)},
        302,
    ),
    ("GET", "/windows/<id:window_id>"): (
        lambda s, o: _web("GET", f"/windows/{s.window(o)[0].id}"),
        ALL_OK,
        200,
    ),
    ("POST", "/windows/<id:window_id>/objections"): (
        lambda s, o: (
            lambda w: _web(
                "POST",
                f"/windows/{w[0].id}/objections",
                {"case_id": str(w[1]), "name": "某", "content": "需要核实收入"},
            )
        )(s.window(o)),
        # The public form's anti-bot checks refuse an instant post; a village or township
        # clerk records objections received at the office.
        {**{r: (400, 400) for r in ROLES}, "village": (302, 302), "township": (302, 302)},
        400,
    ),
    ("GET", "/appraisal"): (
        lambda s, o: _web("GET", "/appraisal"),
        {**{r: (403, 403) for r in ROLES}, "village": (200, 200)},
        302,
    ),
    ("POST", "/appraisal"): (
        lambda s, o: (
            lambda cid: _web(
                "POST",
                "/appraisal",
                {
                    "meeting_on": "2019-11-19",
                    "present": "30",
                    f"include_{cid}": "on",
                    f"for_{cid}": "25",
                    f"against_{cid}": "1",
                },
            )
        )(s.case(o, "surveyed")),
        {**{r: (403, 403) for r in ROLES}, "village": (200, 422)},
        302,
    ),
    ("GET", "/imports"): (
        lambda s, o: _web("GET", "/imports"),
        {
            **{r: (403, 403) for r in ROLES},
            "village": (200, 200),
            "township": (200, 200),
            "county": (200, 200),
        },
        302,
    ),
    ("POST", "/imports"): (
        lambda s, o: _web("POST", "/imports", {}),
        {
            **{r: (403, 403) for r in ROLES},
            "village": (302, 302),
            "township": (302, 302),
            "county": (302, 302),
        },
        302,
    ),
    ("GET", "/objections"): (
        lambda s, o: _web("GET", "/objections"),
        {**{r: (403, 403) for r in ROLES}, "township": (200, 200), "county": (200, 200)},
        302,
    ),
    ("GET", "/evaluations"): (
        lambda s, o: _web("GET", "/evaluations"),
        {
            **{r: (403, 403) for r in ROLES},
            "evaluator": (200, 200),
            "city": (200, 200),
            "province": (200, 200),
        },
        302,
    ),
    ("GET", "/evaluations/<id:evaluation_id>"): (
        lambda s, o: _web(
            "GET", f"/evaluations/{s.evaluation(o, ['evaluator1'] if o else None).id}"
        ),
        {**{r: (403, 403) for r in ROLES}, "evaluator": (200, 404)},
        302,
    ),
    ("POST", "/evaluations/<id:evaluation_id>"): (
        lambda s, o: _web(
            "POST", f"/evaluations/{s.evaluation(o, ['evaluator1'] if o else None).id}", {}
        ),
        {**{r: (403, 403) for r in ROLES}, "evaluator": (302, 404)},
        302,
    ),
    ("GET", "/admin"): (
        lambda s, o: _web("GET", "/admin"),
        {**{r: (403, 403) for r in ROLES}, "admin": (200, 200)},
        302,
    ),
    ("POST", "/admin/users/<username>/<action>"): (
        lambda s, o: _web("POST", f"/admin/users/{'village2' if o else 'fv'}/enable"),
        {**{r: (403, 403) for r in ROLES}, "admin": (302, 302)},
        302,
    ),
    ("GET", "/dashboard"): (
        lambda s, o: _web("GET", "/dashboard"),
        {
            **{r: (403, 403) for r in ROLES},
            **{r: (200, 200) for r in ("township", "county", "city", "province")},
        },
        302,
    ),
    ("GET", "/api/v1/audit"): (
        lambda s, o: _json("GET", "/api/v1/audit"),
        {**{r: (403, 403) for r in ROLES}, "auditor": (200, 200)},
        401,
    ),
}


def web_request(app, role, request):
    """The request from a fresh browser session signed in as the role (or anonymous)."""
    import re

    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    if role is not None:
        browser.post(
            "/login", data={"username": USER[role], "password": PASSWORD, "csrf_token": token}
        )
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', browser.get("/").get_data(as_text=True)
        ).group(1)
    if request["method"] == "GET":
        return browser.get(request["path"])
    return browser.post(request["path"], data={**(request["form"] or {}), "csrf_token": token})


def app_routes(app) -> set[tuple[str, str]]:
    return {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_an_entry(app):
    assert app_routes(app) - set(ROUTES) == set(), "add these routes to the matrix"
    assert set(ROUTES) - app_routes(app) == set(), "the matrix names routes that are gone"


def test_matrix(app, client, world):
    set_now("2019-11-20T09:00:00+08:00")
    scene = Scene(world)

    def headers(role):  # a fresh token per request: one of the routes revokes its own
        if role is None:
            return {}
        r = client.post("/api/v1/auth/token", json={"username": USER[role], "password": PASSWORD})
        return {"Authorization": f"Bearer {r.get_json()['token']}"}

    checked, wrong = 0, []
    for (method, rule), (make, expected, anonymous) in sorted(ROUTES.items()):
        for role in [*ROLES, None]:
            for own in (True, False):
                if role is None and not own:
                    continue
                request = make(scene, own)
                db.session.commit()
                if request.get("web"):
                    r = web_request(app, role, request)
                else:
                    payload = (
                        {"json": request["json"]}
                        if request["json"] is not None
                        else {"data": request["data"]}
                        if request.get("data")
                        else {}
                    )
                    r = client.open(
                        request["path"], method=request["method"], headers=headers(role), **payload
                    )
                r.close()  # static files stream from an open file
                db.session.rollback()
                want = anonymous if role is None else expected[role][0 if own else 1]
                checked += 1
                if r.status_code != want:
                    wrong.append(
                        (
                            method,
                            rule,
                            role,
                            "own" if own else "foreign",
                            want,
                            r.status_code,
                            r.get_data(as_text=True)[:120],
                        )
                    )
    print(f"authorization matrix: {checked} (route, role, scope) checks")
    assert wrong == [], "\n".join(map(str, wrong))


@pytest.fixture(autouse=True)
def _clean_clock():
    yield
