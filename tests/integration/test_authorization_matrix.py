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
from workflow.models import Case, Finding, PublicityWindow
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

    def withdrawn_window(self, own):
        """A window whose period is over and whose cases are announced: names withdrawn."""
        window, cid = self.window(own)
        now = clock.now()
        db.session.execute(
            update(PublicityWindow)
            .where(PublicityWindow.id == window.id)
            .values(closed_at=now, closes_at=now)
        )
        db.session.execute(update(Case).where(Case.id == cid).values(state="announced"))
        db.session.commit()
        return window

    def closed_evaluation(self, own):
        ev = self.visited_evaluation(own)
        who = self.world["province1"] if own else self.foreign["fp"]
        return evaluation.close(who, ev.id, clock.now())

    def evaluation(self, own, evaluators=None):
        self.case(own, "filed")
        who = self.world["province1"] if own else self.foreign["fp"]
        scope = "430623" if own else FOREIGN_COUNTY
        return evaluation.create(who, scope, 2019, 1, 1, 0, evaluators, clock.now())

    def visited_evaluation(self, own):
        """A batch with a finding on every sampled household, so that it may close."""
        ev = self.evaluation(own)
        for s in evaluation.samples(ev):
            db.session.add(
                Finding(
                    evaluation_id=ev.id,
                    household_id=s.household_id,
                    evaluator_id=ev.created_by,
                    meets_criteria=True,
                    satisfied=True,
                    people=1,
                    recorded_at=clock.now(),
                )
            )
        db.session.commit()
        return ev


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
    # 三员分立: the audit administrator reads the audit record only.
    ("GET", "/api/v1/regions"): (
        lambda s, o: _json("GET", "/api/v1/regions"),
        {**ALL_OK, "auditor": (403, 403)},
        401,
    ),
    ("GET", "/api/v1/regions/<code>"): (
        lambda s, o: _json("GET", f"/api/v1/regions/{s.village(o)}"),
        {**ALL_OK, "auditor": (403, 403)},
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
                {
                    "case_id": w[1],
                    "name": "韦某某",
                    "contact": "13800138000",
                    "content": "收入情况需要核实",
                },
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
        lambda s, o: _json("POST", f"/api/v1/evaluations/{s.visited_evaluation(o).id}/close"),
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
        # A foreign case is not selectable: the list comes back with the error.
        {**{r: (403, 403) for r in ROLES}, "county": (200, 422), "township": (200, 422)},
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
            {"case_ids": str(s.appraised(o)), "phone": "0776-5231234", "address": "村委会"},
        ),
        # A case not waiting for this user's window (foreign, or not yet verified for a
        # township) is refused as "no longer on the list": 409, whether it exists or not.
        {**{r: (403, 403) for r in ROLES}, "village": (302, 409), "township": (409, 409)},
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
                {
                    "case_id": str(w[1]),
                    "name": "韦某某",
                    "phone": "13800138000",
                    "content": "需要核实收入",
                },
            )
        )(s.window(o)),
        # The public form's anti-bot checks refuse an instant post (the page again, with
        # what was typed: 422); a village or township clerk of the window's area records
        # objections received at the office.
        {**{r: (422, 422) for r in ROLES}, "village": (302, 422), "township": (302, 422)},
        422,
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
        # No file chosen: the page comes back with the error next to the field.
        {
            **{r: (403, 403) for r in ROLES},
            "village": (422, 422),
            "township": (422, 422),
            "county": (422, 422),
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
    ("POST", "/admin/users/<username>/sessions/end"): (
        lambda s, o: _web("POST", f"/admin/users/{'village2' if o else 'fv'}/sessions/end"),
        {**{r: (403, 403) for r in ROLES}, "admin": (302, 302)},
        302,
    ),
    ("POST", "/admin/sessions/<int:session_id>/end"): (
        lambda s, o: _web("POST", "/admin/sessions/2147483647/end"),
        {**{r: (403, 403) for r in ROLES}, "admin": (302, 302)},
        302,
    ),
    ("POST", "/admin/locks/lift"): (
        lambda s, o: _web(
            "POST",
            "/admin/locks/lift",
            {"scope": "pair", "username": "village2" if o else "fv", "client": "10.0.0.1"},
        ),
        {**{r: (403, 403) for r in ROLES}, "admin": (302, 302)},
        302,
    ),
    ("POST", "/admin/password"): (
        lambda s, o: _web(
            "POST", "/admin/password", {"username": "village2" if o else "fv", "password": "x"}
        ),
        {**{r: (403, 403) for r in ROLES}, "admin": (302, 302)},
        302,
    ),
    ("POST", "/admin/role"): (
        lambda s, o: _web(
            "POST",
            "/admin/role",
            {"username": "village2" if o else "fv", "role": "village", "region_code": ""},
        ),
        {**{r: (403, 403) for r in ROLES}, "admin": (302, 302)},
        302,
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


# Who can LEARN that an object exists. For an object the caller may not read (outside
# its region, or of a kind its role never reads), every answer must be the one it
# gets for an id that names nothing: same status, same body once the ids themselves
# are set aside. Windows and their notice codes are posted publicly (their existence
# is no secret): whoever may not read a window's names gets what the public gets
# (test_withdrawn_windows_answer_everyone_alike).
MISSING_ID = 2**31 - 1
SECRET_OBJECTS = {
    "case_id": MISSING_ID,
    "household_id": MISSING_ID,
    "evaluation_id": MISSING_ID,
    "username": "nobody-here",
}
# Roles that may not read an object of the kind even inside their own region (an
# evaluator: no case or household outside its sample; the Scene's are never sampled).
BLIND = {
    "case_id": {"admin", "auditor", "evaluator"},
    "household_id": {"admin", "auditor", "evaluator"},
    "evaluation_id": {"village", "township", "admin", "auditor"},
    "username": set(ROLES) - {"admin"},
}
NO_CASES = {"admin", "auditor", "evaluator"}
# Known differences outside this change's files, to be fixed there (then removed here):
# services/appeals.py looks up the finding before it checks the household's region, so
# a county or province outside it learns which (batch, household) has a finding.
PENDING_FIXES: set[tuple[str, str]] = set()  # leaks found and not yet fixed: none


def _objection_on_own_window(s, case_id):
    window, _ = s.window(True)
    return _json(
        "POST",
        f"/api/v1/publicity-windows/{window.id}/objections",
        {"case_id": case_id, "name": "韦某某", "contact": "13800138000", "content": "收入需核实"},
    )


def _finding_on_own_batch(s, household_id):
    ev = s.evaluation(True, ["evaluator1"])
    return _json(
        "POST",
        f"/api/v1/evaluations/{ev.id}/findings",
        {"household_id": household_id, "meets_criteria": True, "satisfied": True},
    )


# Objects named in a body or a query string: (make the object, the request naming an
# id, the missing id, roles to check with their own region's object too, roles that
# read the foreign object: evaluator1 is named in the foreign region's batches).
BODY_VARIANTS = {
    "batch of cases": (
        lambda s, o: s.case(o),
        lambda s, i: _json(
            "POST",
            "/api/v1/cases/batch-transitions",
            {"trigger": "defer", "case_ids": [i], "data": {"reason": "外出务工"}},
        ),
        MISSING_ID,
        NO_CASES,
    ),
    "cases of a new window": (
        lambda s, o: s.appraised(o),
        lambda s, i: _json(
            "POST",
            "/api/v1/publicity-windows",
            {
                "scope_code": VILLAGE,
                "case_ids": [i],
                "contact": {"phone": "1", "address": "村委会"},
            },
        ),
        MISSING_ID,
        NO_CASES,
    ),
    "household of a new case": (
        lambda s, o: s.household(o),
        lambda s, i: _json(
            "POST", "/api/v1/cases", {"kind": "household_exit", "subject": i, "year": 2019}
        ),
        MISSING_ID,
        NO_CASES,
    ),
    "case objected to": (
        lambda s, o: s.case(o),
        _objection_on_own_window,
        MISSING_ID,
        set(),
    ),
    "household of a finding": (
        lambda s, o: s.household(o),
        _finding_on_own_batch,
        MISSING_ID,
        set(),
    ),
    "cases of a region": (
        lambda s, o: s.village(o),
        lambda s, i: _json("GET", f"/api/v1/cases?region_code={i}"),
        "450000999999",
        set(),
        {"evaluator"},
    ),
    "households of a village": (
        lambda s, o: s.village(o),
        lambda s, i: _json("GET", f"/api/v1/households?village_code={i}"),
        "450000999999",
        set(),
    ),
    "cases of a page's batch": (
        lambda s, o: s.case(o, "county_review"),
        lambda s, i: _web("POST", "/cases/batch", {"trigger": "approve", "case_ids": str(i)}),
        MISSING_ID,
        NO_CASES,
    ),
}


def _send(app, client, role, request):
    """One request as the role (a fresh token or browser session), or anonymously."""
    if request.get("web"):
        response = web_request(app, role, request)
    else:
        headers = {}
        if role is not None:
            r = client.post(
                "/api/v1/auth/token", json={"username": USER[role], "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
        payload = {"json": request["json"]} if request["json"] is not None else {}
        response = client.open(
            request["path"], method=request["method"], headers=headers, **payload
        )
    response.close()
    db.session.rollback()
    return response


def _shape(response, ids) -> tuple:
    """Status, redirect target and body, with the ids of the request set aside."""
    import re

    def plain(text: str) -> str:
        for value in ids:
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(str(value))}(?![0-9A-Za-z])", "<id>", text)
        return text

    def walk(value, key=None):
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return plain(value)
        if isinstance(value, int) and key != "status" and value in ids:
            return "<id>"
        return value

    body = response.get_json(silent=True)
    if body is None:  # a page: what it says (the header names whoever is signed in)
        text = response.get_data(as_text=True)
        main = re.search(r"<main>.*</main>", text, re.S)
        text = main.group() if main else text
        body = plain(re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', text))
    else:
        body = walk(body)
    return response.status_code, plain(response.headers.get("Location", "")), body


def test_no_role_learns_that_a_forbidden_object_exists(app, client, world):
    """An existing foreign (or forbidden) case, household, evaluation or user answers
    exactly as an id that names nothing, for every role and anonymously."""
    import re

    set_now("2019-11-20T09:00:00+08:00")
    scene = Scene(world)
    adapter = app.url_map.bind("localhost")
    checked, wrong = 0, []

    def compare(label, role, own, there, absent, ids):
        nonlocal checked
        checked += 1
        a, b = _shape(there, ids), _shape(absent, ids)
        if a != b:
            wrong.append((label, role, "own" if own else "foreign", a[:2], b[:2], a[2], b[2]))

    for (method, rule), (make, _expected, _anonymous) in sorted(ROUTES.items()):
        params = [p for p in SECRET_OBJECTS if re.search(rf"<(?:\w+:)?{p}>", rule)]
        if not params:
            continue
        for role in [*ROLES, None]:
            for own in (False, True):
                if own and (role is None or not all(role in BLIND[p] for p in params)):
                    continue
                request = make(scene, own)
                db.session.commit()
                path, _, query = request["path"].partition("?")
                endpoint, args = adapter.match(path, method=method)
                missing = adapter.build(
                    endpoint, {**args, **{p: SECRET_OBJECTS[p] for p in params}}, method=method
                )
                there = _send(app, client, role, request)
                if role is not None and there.status_code < 400:
                    continue  # the role reads (or acts on) this object: nothing to hide
                absent = _send(
                    app, client, role, {**request, "path": missing + (f"?{query}" if query else "")}
                )
                ids = [args[p] for p in params] + [SECRET_OBJECTS[p] for p in params]
                compare(f"{method} {rule}", role, own, there, absent, ids)

    for label, (make_object, make_request, missing_id, own_roles, *sees) in BODY_VARIANTS.items():
        for role in [*ROLES, None]:
            for own in (False, True):
                if (own and role not in own_roles) or (not own and role in (sees or [()])[0]):
                    continue
                existing = make_object(scene, own)
                there_request = make_request(scene, existing)
                absent_request = make_request(scene, missing_id)
                db.session.commit()
                there = _send(app, client, role, there_request)
                absent = _send(app, client, role, absent_request)
                compare(label, role, own, there, absent, [existing, missing_id])
    print(f"existence: {checked} (route, role, object) comparisons")
    assert checked > 250
    found = {(w[0], w[1]) for w in wrong}
    assert found >= PENDING_FIXES, f"fixed: remove {PENDING_FIXES - found} from PENDING_FIXES"
    wrong = [w for w in wrong if (w[0], w[1]) not in PENDING_FIXES]
    assert wrong == [], "\n".join(map(str, wrong))


def test_withdrawn_windows_answer_everyone_alike(app, client, world):
    """After the retention, a window's names are for the users of its region; everybody
    else (signed in or not, admin, auditor, evaluator, another region) gets the public's
    410 Gone, and its code still verifies the notice."""
    set_now("2019-11-20T09:00:00+08:00")
    scene = Scene(world)
    checked, wrong = 0, []
    for own in (True, False):
        window = scene.withdrawn_window(own)
        requests = [
            _json("GET", f"/api/v1/publicity-windows/{window.id}"),
            _json("GET", f"/api/v1/publicity-windows/{window.id}/notice.pdf"),
            _json("GET", f"/api/v1/notices/{window.code}/pdf"),
            _web("GET", f"/windows/{window.id}"),
        ]
        for request in requests:
            public = _send(app, client, None, request)
            assert public.status_code == 410, (request, public.status_code)
            for role in ROLES:
                r = _send(app, client, role, request)
                checked += 1
                if own and role in STAFF:
                    # Its region still reads it; a PDF of names no longer public is never
                    # kept by a shared cache.
                    pdf = request["path"].endswith("pdf")
                    if r.status_code != 200 or (
                        pdf and r.headers["Cache-Control"] != "private, no-store"
                    ):
                        wrong.append((request["path"], role, "own", r.status_code))
                elif _shape(r, []) != _shape(public, []):
                    wrong.append(
                        (request["path"], role, "own" if own else "foreign", r.status_code)
                    )
        verify = _send(app, client, None, _json("GET", f"/api/v1/notices/{window.code}"))
        assert verify.status_code == 200 and verify.get_json()["valid"] is True
    assert wrong == [], "\n".join(map(str, wrong))
    assert checked == 2 * 4 * len(ROLES)


def test_an_evaluator_reads_the_cases_of_its_sample_only(app, client, world):
    set_now("2019-11-20T09:00:00+08:00")
    scene = Scene(world)
    ev = scene.evaluation(True, ["evaluator1"])
    sampled = [s.case_id for s in evaluation.samples(ev) if s.case_id]
    other = scene.case(True, "filed")  # in its region, not in its sample
    listed = _send(app, client, "evaluator", _json("GET", "/api/v1/cases?per_page=1000"))
    assert listed.status_code == 200
    assert sorted(c["id"] for c in listed.get_json()["items"]) == sorted(sampled)
    one = _send(app, client, "evaluator", _json("GET", f"/api/v1/cases/{sampled[0]}"))
    assert one.status_code == 200 and one.get_json()["allowed_triggers"] == []
    hidden = _send(app, client, "evaluator", _json("GET", f"/api/v1/cases/{other}"))
    absent = _send(app, client, "evaluator", _json("GET", f"/api/v1/cases/{MISSING_ID}"))
    assert hidden.status_code == absent.status_code == 404
    assert _shape(hidden, [other, MISSING_ID]) == _shape(absent, [other, MISSING_ID])
    # No incidence rate, no closed window, no region incidence for the evaluator.
    region = _send(app, client, "evaluator", _json("GET", "/api/v1/regions/430623"))
    assert region.status_code == 200 and "incidence_rate" not in region.get_json()
    county = _send(app, client, "county", _json("GET", "/api/v1/regions/430623"))
    assert "incidence_rate" in county.get_json()
    admin = _send(app, client, "admin", _json("GET", "/api/v1/regions/430623"))
    assert admin.status_code == 200 and "poor_people_not_exited" not in admin.get_json()
