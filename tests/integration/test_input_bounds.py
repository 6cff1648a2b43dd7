"""Every input is bounded before it is read: hostile input is a 4xx problem+json, never a
500, and nothing is written (issue #10 items 4 and 10, issue #14 item 2).

One table of hostile requests per route class (the anonymous login, signed-in JSON
writes, the public objection route, list queries, path ids, uploads); each request is
refused with a 4xx problem+json body and leaves every table's row count as it was.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.factories import (
    APPRAISAL,
    COUNTY,
    PASSWORD,
    SURVEY,
    TOWNSHIP,
    VILLAGE,
    add_household,
    set_now,
)
from workflow.extensions import db
from workflow.models import Household, Region

BIG = 2**64
DEEP = "[" * 1000 + "]" * 1000
JSON = {"Content-Type": "application/json"}


def token(client, username: str) -> dict:
    r = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.get_data(as_text=True)
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


# The public routes' rate limits count every request, refused or not, before reading it.
NOT_DATA = {"rate_counters"}


def counts() -> dict[str, int]:
    """Rows per table: a refused request changes none of them."""
    db.session.rollback()
    return {
        t.name: db.session.scalar(select(func.count()).select_from(t))
        for t in db.metadata.sorted_tables
        if t.name not in NOT_DATA
    }


def refused(response, status: int | tuple[int, ...]) -> dict:
    """A 4xx problem+json naming the reason."""
    allowed = status if isinstance(status, tuple) else (status,)
    text = response.get_data(as_text=True)
    assert response.status_code in allowed, (response.status_code, text[:500])
    assert response.mimetype == "application/problem+json", text[:500]
    body = response.get_json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    return body


@pytest.fixture
def ctx(client, world):
    """A planned case, an open window listing another case, and a token per role."""
    from workflow.services import cases, publicity, transitions

    now = set_now("2019-10-21T09:00:00+08:00")
    [planned] = cases.open_household_cases(
        world["township1"], [add_household(world["village1"])], 2019, now
    )
    [listed] = cases.open_household_cases(
        world["township1"], [add_household(world["village1"])], 2019, now
    )
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, [listed], world["village1"], payload, now)
    db.session.commit()
    window = publicity.post(
        world["village1"],
        VILLAGE,
        [listed],
        {"phone": "0730-1234567", "address": "村委会"},
        None,
        now,
    )
    db.session.commit()
    from workflow.services import users

    users.create("auditor1", PASSWORD, "auditor", None, "审计员", now)
    db.session.commit()
    out = {"case": planned, "listed": listed, "window": window.id}
    for name in ("village1", "township1", "county1", "city1", "admin", "auditor1"):
        out[name] = token(client, name)
    return out


def survey(**change) -> dict:
    return {"trigger": "submit_survey", "data": {**SURVEY, **change}}


def household(**change) -> dict:
    return {
        "village_code": VILLAGE,
        "group": "一组",
        "head_name": "张三",
        "head_id_number": "430623196001011234",
        "members": [],
        **change,
    }


# (name, who, method, url, body as json= or raw data=, expected status, what the problem
# names: a field, a character or a reason)
HOSTILE = [
    # -- the anonymous login route
    ("login: 1,000-deep array", None, "POST", "/auth/token", {"data": DEEP}, 400, "嵌套"),
    ("login: 100,000-deep", None, "POST", "/auth/token", {"data": "[" * 100_000}, 400, "嵌套"),
    (
        "login: deep object",
        None,
        "POST",
        "/auth/token",
        {"data": '{"a":' * 1000 + "1" + "}" * 1000},
        400,
        "嵌套",
    ),
    ("login: NaN", None, "POST", "/auth/token", {"data": '{"username": NaN}'}, 400, "NaN"),
    (
        "login: -Infinity",
        None,
        "POST",
        "/auth/token",
        {"data": '{"password": -Infinity}'},
        400,
        "Infinity",
    ),
    ("login: 1e999", None, "POST", "/auth/token", {"data": '{"username": 1e999}'}, 400, "超出范围"),
    (
        "login: 5,000 digits",
        None,
        "POST",
        "/auth/token",
        {"data": '{"a": ' + "9" * 5000 + "}"},
        400,
        "JSON 格式错误",
    ),
    (
        "login: invalid UTF-8",
        None,
        "POST",
        "/auth/token",
        {"data": b'{"username": "\xff"}'},
        400,
        "UTF-8",
    ),
    (
        "login: 100,000-char name",
        None,
        "POST",
        "/auth/token",
        {"json": {"username": "x" * 100_000, "password": "p"}},
        422,
        "username",
    ),
    (
        "login: NUL in name",
        None,
        "POST",
        "/auth/token",
        {"json": {"username": "village1\x00", "password": PASSWORD}},
        422,
        "U+0000",
    ),
    (
        "login: lone surrogate",
        None,
        "POST",
        "/auth/token",
        {"data": '{"username": "\\ud800", "password": "p"}'},
        422,
        "U+D800",
    ),
    (
        "login: surrogate key",
        None,
        "POST",
        "/auth/token",
        {"data": '{"\\udfff": 1, "username": "a", "password": "b"}'},
        422,
        "Unknown field",
    ),
    ("login: a JSON array", None, "POST", "/auth/token", {"json": [1, 2]}, 400, "JSON 对象"),
    # -- signed-in JSON writes: integers beyond their column, text beyond its size
    ("case: deep array", "county1", "POST", "/cases", {"data": DEEP}, 400, "嵌套"),
    (
        "case: subject 2^64",
        "township1",
        "POST",
        "/cases",
        {"json": {"kind": "household_exit", "subject": BIG, "year": 2019}},
        422,
        "subject",
    ),
    (
        "case: subject -2^64",
        "township1",
        "POST",
        "/cases",
        {"json": {"kind": "household_exit", "subject": -BIG, "year": 2019}},
        422,
        "subject",
    ),
    (
        "case: subject true",
        "township1",
        "POST",
        "/cases",
        {"json": {"kind": "household_exit", "subject": True, "year": 2019}},
        422,
        "subject",
    ),
    (
        "case: year 2^64",
        "county1",
        "POST",
        "/cases",
        {"json": {"kind": "village_exit", "subject": VILLAGE, "year": BIG}},
        422,
        "year",
    ),
    (
        "case: year -2^64",
        "county1",
        "POST",
        "/cases",
        {"json": {"kind": "village_exit", "subject": VILLAGE, "year": -BIG}},
        422,
        "year",
    ),
    (
        "case: year 1e308",
        "county1",
        "POST",
        "/cases",
        {"json": {"kind": "village_exit", "subject": VILLAGE, "year": 1e308}},
        422,
        "year",
    ),
    (
        "case: subject code with NUL",
        "county1",
        "POST",
        "/cases",
        {"json": {"kind": "county_exit", "subject": COUNTY + "\x00", "year": 2019}},
        422,
        "U+0000",
    ),
    (
        "transition: expected_version 2^64",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": {**survey(), "expected_version": BIG}},
        422,
        "expected_version",
    ),
    (
        "transition: income NaN",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"data": '{"trigger": "submit_survey", "data": {"income_per_capita": NaN}}'},
        400,
        "NaN",
    ),
    (
        "transition: income 'NaN' as a string",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(income_per_capita="NaN")},
        422,
        "income_per_capita",
    ),
    (
        "transition: income 1e300",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(income_per_capita=1e300)},
        422,
        "income_per_capita",
    ),
    (
        "transition: dibao -1",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(dibao_per_capita=-1)},
        422,
        "dibao_per_capita",
    ),
    (
        "transition: notes of 100,000 chars",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(notes="注" * 100_000)},
        422,
        "data.notes",
    ),
    (
        "transition: surveyor with U+202E",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(surveyors=["韦组长", "覃\u202e队员"])},
        422,
        "U+202E",
    ),
    (
        "transition: surveyed in year 1",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(surveyed_on="0001-01-01")},
        422,
        "2000",
    ),
    (
        "transition: 10,000 indicators",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": survey(indicators={f"i{n}": True for n in range(10_000)})},
        422,
        "data.indicators",
    ),
    (
        "transition: deep data",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"data": '{"trigger": "defer", "data": {"reason": ' + DEEP + "}}"},
        400,
        "嵌套",
    ),
    (
        "defer: reason of 100,000 chars",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": {"trigger": "defer", "data": {"reason": "因" * 100_000}}},
        422,
        "2000",
    ),
    (
        "defer: reason with NUL",
        "village1",
        "POST",
        "/cases/{case}/transitions",
        {"json": {"trigger": "defer", "data": {"reason": "外出\x00务工"}}},
        422,
        "U+0000",
    ),
    (
        "batch: case id 2^64",
        "village1",
        "POST",
        "/cases/batch-transitions",
        {"json": {"trigger": "defer", "case_ids": [BIG], "data": {"reason": "外出"}}},
        422,
        "case_ids",
    ),
    (
        "batch: case id -2^64",
        "village1",
        "POST",
        "/cases/batch-transitions",
        {"json": {"trigger": "defer", "case_ids": [-BIG], "data": {"reason": "外出"}}},
        422,
        "case_ids",
    ),
    (
        "batch: case id 0",
        "village1",
        "POST",
        "/cases/batch-transitions",
        {"json": {"trigger": "defer", "case_ids": [0], "data": {"reason": "外出"}}},
        422,
        "case_ids",
    ),
    (
        "window: case id 2^64",
        "village1",
        "POST",
        "/publicity-windows",
        {
            "json": {
                "scope_code": VILLAGE,
                "case_ids": [BIG],
                "contact": {"phone": "0730-1234567", "address": "村委会"},
            }
        },
        422,
        "case_ids",
    ),
    (
        "window: title with U+202E",
        "village1",
        "POST",
        "/publicity-windows",
        {
            "json": {
                "scope_code": VILLAGE,
                "case_ids": [1],
                "contact": {"phone": "0730-1234567", "address": "村委会"},
                "title": "公示\u202e",
            }
        },
        422,
        "U+202E",
    ),
    (
        "household: head name of 100,000 chars",
        "village1",
        "POST",
        "/households",
        {"json": household(head_name="张" * 100_000)},
        422,
        "head_name",
    ),
    (
        "household: NUL in head name",
        "village1",
        "POST",
        "/households",
        {"json": household(head_name="张\x00三")},
        422,
        "U+0000",
    ),
    (
        "household: U+202E in head name",
        "village1",
        "POST",
        "/households",
        {"json": household(head_name="张\u202e三")},
        422,
        "U+202E",
    ),
    (
        "household: line break in group",
        "village1",
        "POST",
        "/households",
        {"json": household(group="一组\n二组")},
        422,
        "U+000A",
    ),
    (
        "household: U+2066 in a member's name",
        "village1",
        "POST",
        "/households",
        {
            "json": household(
                members=[{"name": "\u2066李四", "relation": "配偶", "id_number": "1" * 18}]
            )
        },
        422,
        "U+2066",
    ),
    (
        "region: rural population 2^64",
        "admin",
        "POST",
        "/regions",
        {
            "json": {
                "code": "430623100299",
                "name": "新村",
                "level": "village",
                "parent_code": TOWNSHIP,
                "rural_population": BIG,
            }
        },
        422,
        "rural_population",
    ),
    (
        "region: name with NUL",
        "admin",
        "POST",
        "/regions",
        {
            "json": {
                "code": "430623100299",
                "name": "新\x00村",
                "level": "village",
                "parent_code": TOWNSHIP,
            }
        },
        422,
        "U+0000",
    ),
    (
        "user: display name of 100,000 chars",
        "admin",
        "POST",
        "/users",
        {
            "json": {
                "username": "newuser",
                "password": PASSWORD,
                "role": "village",
                "region_code": VILLAGE,
                "display_name": "名" * 100_000,
            }
        },
        422,
        "display_name",
    ),
    (
        "evaluation: year 2^64",
        "city1",
        "POST",
        "/evaluations",
        {"json": {"scope_code": COUNTY, "year": BIG, "sample_size": 10, "seed": 1}},
        422,
        "year",
    ),
    (
        "evaluation: seed 2^64",
        "city1",
        "POST",
        "/evaluations",
        {"json": {"scope_code": COUNTY, "year": 2019, "sample_size": 10, "seed": BIG}},
        422,
        "seed",
    ),
    (
        "evaluation: nonregistered sample 2^64",
        "city1",
        "POST",
        "/evaluations",
        {
            "json": {
                "scope_code": COUNTY,
                "year": 2019,
                "sample_size": 10,
                "seed": 1,
                "nonregistered_sample_size": BIG,
            }
        },
        422,
        "nonregistered_sample_size",
    ),
    (
        "finding: household id 2^64",
        "city1",
        "POST",
        "/evaluations/1/findings",
        {"json": {"household_id": BIG, "meets_criteria": True, "satisfied": True}},
        422,
        "household_id",
    ),
    (
        "announcement: year 2^64",
        "county1",
        "POST",
        "/announcements",
        {"json": {"scope_code": VILLAGE, "year": BIG}},
        422,
        "year",
    ),
    (
        "clock: year 9999",
        "admin",
        "PUT",
        "/testing/clock",
        {"json": {"now": "9999-12-31T23:59:59+08:00"}},
        422,
        "2100",
    ),
    # -- the public objection route (anonymous)
    (
        "objection: case id 2^64",
        None,
        "POST",
        "/publicity-windows/{window}/objections",
        {
            "json": {
                "case_id": BIG,
                "name": "王五",
                "contact": "13800000000",
                "content": "不符合条件",
            }
        },
        422,
        "case_id",
    ),
    (
        "objection: case id -2^64",
        None,
        "POST",
        "/publicity-windows/{window}/objections",
        {
            "json": {
                "case_id": -BIG,
                "name": "王五",
                "contact": "13800000000",
                "content": "不符合条件",
            }
        },
        422,
        "case_id",
    ),
    (
        "objection: deep array",
        None,
        "POST",
        "/publicity-windows/{window}/objections",
        {"data": DEEP},
        400,
        "嵌套",
    ),
    (
        "objection: content of 100,000 chars",
        None,
        "POST",
        "/publicity-windows/{window}/objections",
        {
            "json": {
                "case_id": "{listed}",
                "name": "王五",
                "contact": "13800000000",
                "content": "异" * 100_000,
            }
        },
        422,
        "content",
    ),
    (
        "objection: U+202E in the name",
        None,
        "POST",
        "/publicity-windows/{window}/objections",
        {
            "json": {
                "case_id": "{listed}",
                "name": "王\u202e五",
                "contact": "13800000000",
                "content": "不符合条件",
            }
        },
        422,
        "U+202E",
    ),
    # -- list queries
    ("cases: page 2^64", "county1", "GET", f"/cases?page={BIG}", {}, 422, "page"),
    ("cases: page -2^64", "county1", "GET", f"/cases?page=-{BIG}", {}, 422, "page"),
    ("cases: page 0", "county1", "GET", "/cases?page=0", {}, 422, "page"),
    ("cases: per_page 2^64", "county1", "GET", f"/cases?per_page={BIG}", {}, 422, "per_page"),
    ("cases: per_page abc", "county1", "GET", "/cases?per_page=abc", {}, 422, "per_page"),
    ("cases: year 2^64", "county1", "GET", f"/cases?year={BIG}", {}, 422, "year"),
    ("cases: year -2^64", "county1", "GET", f"/cases?year=-{BIG}", {}, 422, "year"),
    ("cases: year 1e3", "county1", "GET", "/cases?year=1e3", {}, 422, "year"),
    ("cases: year 20x9", "county1", "GET", "/cases?year=20x9", {}, 422, "year"),
    ("cases: region NUL", "county1", "GET", "/cases?region_code=%00", {}, 422, "U+0000"),
    ("cases: state U+202E", "county1", "GET", "/cases?state=%E2%80%AE", {}, 422, "U+202E"),
    (
        "cases: kind of 100,000 chars",
        "county1",
        "GET",
        "/cases?kind=" + "k" * 100_000,
        {},
        422,
        "200",
    ),
    ("households: page 2^64", "village1", "GET", f"/households?page={BIG}", {}, 422, "page"),
    (
        "households: village NUL",
        "village1",
        "GET",
        "/households?village_code=%00",
        {},
        422,
        "U+0000",
    ),
    ("regions: page 2^64", "county1", "GET", f"/regions?page={BIG}", {}, 422, "page"),
    ("regions: parent NUL", "county1", "GET", "/regions?parent_code=%00", {}, 422, "U+0000"),
    ("audit: case_id 2^64", "auditor1", "GET", f"/audit?case_id={BIG}", {}, 422, "case_id"),
    ("audit: case_id abc", "auditor1", "GET", "/audit?case_id=abc", {}, 422, "case_id"),
    ("audit: page 2^64", "auditor1", "GET", f"/audit?page={BIG}", {}, 422, "page"),
    # -- path parameters
    ("path: case id 2^64", "county1", "GET", f"/cases/{BIG}", {}, 404, ""),
    ("path: household id 2^64", "village1", "GET", f"/households/{BIG}", {}, 404, ""),
    ("path: evaluation id 2^64", "city1", "GET", f"/evaluations/{BIG}", {}, 404, ""),
    ("path: window id 2^64", None, "GET", f"/publicity-windows/{BIG}", {}, 404, ""),
    ("path: region code NUL", "county1", "GET", "/regions/%00", {}, 404, "不存在"),
    (
        "path: region code of 1,000 chars",
        "county1",
        "GET",
        "/regions/" + "4" * 1000,
        {},
        404,
        "不存在",
    ),
    ("path: notice code NUL", None, "GET", "/notices/A%00B", {}, 404, "不存在"),
    (
        "path: user name with U+202E",
        "admin",
        "PATCH",
        "/users/a%E2%80%AEb",
        {"json": {"active": False}},
        404,
        "不存在",
    ),
]


def _fill(value, ctx):
    if isinstance(value, str):
        return int(value.format(**ctx)) if value == "{listed}" else value.format(**ctx)
    if isinstance(value, dict):
        return {k: _fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    return value


@pytest.mark.parametrize(
    "who,method,url,payload,status,names",
    [pytest.param(*row[1:], id=row[0]) for row in HOSTILE],
)
def test_hostile_input_is_a_4xx_and_writes_nothing(
    client, ctx, who, method, url, payload, status, names
):
    headers = dict(ctx[who]) if who else {}
    kwargs = {}
    if "json" in payload:
        kwargs["json"] = _fill(payload["json"], ctx)
    if "data" in payload:
        kwargs["data"] = payload["data"]
        headers.update(JSON)
    before = counts()
    r = client.open("/api/v1" + url.format(**ctx), method=method, headers=headers, **kwargs)
    body = refused(r, status)
    assert names in json.dumps(body, ensure_ascii=False), body
    assert counts() == before


def test_a_json_body_over_the_limit_is_413_before_it_is_read(client, ctx, app, monkeypatch):
    """3 MB against the 2 MiB limit: by Content-Length before authentication or parsing,
    and with no Content-Length (chunked) after at most limit + 1 bytes."""
    assert app.config["EXITFLOW_MAX_JSON_BYTES"] == 2 * 1024 * 1024
    big = ('{"username": "' + "x" * 3_000_000 + '"}').encode()
    before = counts()
    from werkzeug.wrappers import Request

    def unparsed(*args, **kwargs):  # the body must not be parsed at all
        raise AssertionError("parsed a body over the limit")

    monkeypatch.setattr("workflow.api.parse_json", unparsed)
    monkeypatch.setattr(Request, "get_json", unparsed)
    for url, headers in (
        ("/api/v1/auth/token", {}),
        ("/api/v1/households", ctx["village1"]),
        ("/api/v1/cases", {"Authorization": "Bearer not-checked-before-the-size"}),
    ):
        body = refused(client.post(url, data=big, headers={**headers, **JSON}), 413)
        assert "2 MB" in body["detail"]
        chunked = client.post(
            url,
            data=big,
            headers={**headers, **JSON, "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        refused(chunked, 413)
    assert counts() == before


def test_the_json_limit_is_the_configured_one(client, ctx, app):
    app.config["EXITFLOW_MAX_JSON_BYTES"] = 1000
    payload = {"trigger": "defer", "data": {"reason": "外出" * 400}}
    url = f"/api/v1/cases/{ctx['case']}/transitions"
    refused(client.post(url, json=payload, headers=ctx["village1"]), 413)
    app.config["EXITFLOW_MAX_JSON_BYTES"] = 2 * 1024 * 1024
    r = client.post(url, json=payload, headers=ctx["village1"])
    assert r.status_code == 200, r.get_data(as_text=True)


def test_an_upload_over_max_content_length_is_413(client, ctx, app):
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    before = counts()
    r = upload(client, ctx, "h.csv", b"x" * (17 * 1024 * 1024))
    body = refused(r, 413)
    assert "16 MB" in body["detail"]
    assert counts() == before


def test_idempotency_key_over_its_column_is_refused(client, ctx):
    before = counts()
    r = client.post(
        "/api/v1/cases/batch-transitions",
        json={"trigger": "defer", "case_ids": [ctx["case"]], "data": {"reason": "外出"}},
        headers={**ctx["village1"], "Idempotency-Key": "k" * 201},
    )
    assert "Idempotency-Key" in refused(r, 422)["errors"]
    assert counts() == before


def test_nesting_up_to_the_limit_parses(client, ctx):
    """32 levels are read (then refused by the schema as unknown data), 33 are not."""
    url = f"/api/v1/cases/{ctx['case']}/transitions"
    ok = '{"trigger": "defer", "data": {"reason": "外出", "x": ' + "[" * 30 + "]" * 30 + "}}"
    deep = '{"trigger": "defer", "data": {"reason": "外出", "x": ' + "[" * 31 + "]" * 31 + "}}"
    assert "data.x" in str(
        refused(client.post(url, data=ok, headers={**ctx["village1"], **JSON}), 422)
    )
    assert (
        "嵌套"
        in refused(client.post(url, data=deep, headers={**ctx["village1"], **JSON}), 400)["detail"]
    )
    # Brackets inside strings are text, not nesting.
    text = {"trigger": "defer", "data": {"reason": "[" * 1000 + "{" * 900}}
    assert client.post(url, json=text, headers=ctx["village1"]).status_code == 200


CJK = "𠮷䶮㐀𪚥𫝀𬺰𰻞"  # U+20BB7, U+4DAE, U+3400 (Ext A), Ext B-G


def test_every_cjk_extension_is_accepted(client, ctx):
    from datetime import date

    from states.identity import make_id_number

    r = client.post(
        "/api/v1/households",
        json=household(
            head_name=CJK,
            group="𠮷组",
            head_id_number=make_id_number(COUNTY, date(1961, 5, 5), 4242),
            poverty_cause="因病𪚥",
            members=[
                {
                    "name": "䶮𠮷",
                    "relation": "配偶",
                    "id_number": make_id_number(COUNTY, date(1962, 6, 6), 4243),
                }
            ],
        ),
        headers=ctx["village1"],
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    stored = db.session.get(Household, r.get_json()["id"])
    assert stored.head_name == CJK and stored.group == "𠮷组"
    # 50 characters of Extension B fill a 50-character column exactly (not 200 bytes).
    r = client.post(
        "/api/v1/regions",
        json={
            "code": "430623100299",
            "name": "𠮷" * 100,
            "level": "village",
            "parent_code": TOWNSHIP,
        },
        headers=ctx["admin"],
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    assert db.session.get(Region, "430623100299").name == "𠮷" * 100
    r = client.post(
        f"/api/v1/cases/{ctx['case']}/transitions",
        json=survey(surveyors=["𠮷组长", "䶮队员"], notes="第一行\n第二行\t𬺰"),
        headers=ctx["village1"],
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert client.get("/api/v1/cases?state=%F0%A0%AE%B7", headers=ctx["county1"]).status_code == 200


def test_query_integers_in_range_still_work(client, ctx):
    r = client.get("/api/v1/cases?page=1&per_page=1000&year=2019", headers=ctx["county1"])
    assert r.status_code == 200 and r.get_json()["per_page"] == 1000
    assert r.get_json()["total"] == 2
    r = client.get("/api/v1/cases?page=2147483647&year=2100", headers=ctx["county1"])
    assert r.status_code == 200 and r.get_json()["items"] == []


# -- imports ------------------------------------------------------------------------

HEADER = "村代码,村民小组,户主姓名,户主身份证号,致贫原因,家庭成员\n"


def ident(n: int) -> str:
    from datetime import date

    from states.identity import make_id_number

    return make_id_number("430623", date(1965, 1 + n % 12, 1 + n % 28), 800 + n)


def multipart(filename: str, raw: bytes) -> dict:
    """The upload as one in-memory body (the test client would spool a large one to a
    temporary file it never closes)."""
    boundary, data = encode_multipart({"file": FileStorage(io.BytesIO(raw), filename)})
    return {"data": data, "content_type": f"multipart/form-data; boundary={boundary}"}


def upload(client, ctx, filename: str, raw: bytes):
    return client.post(
        "/api/v1/imports/households", headers=ctx["village1"], **multipart(filename, raw)
    )


def xlsx(rows: list[list], *, patch=None) -> bytes:
    """A real workbook, its parts rewritten by patch(name, bytes) -> bytes."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    if patch is None:
        return buffer.getvalue()
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, patch(info.filename, source.read(info)))
    return out.getvalue()


def good_rows(n: int = 2) -> list[list]:
    return [HEADER.strip().split(",")] + [
        [VILLAGE, "1组", f"户主{i}", ident(i), "因病", ""] for i in range(n)
    ]


DTD = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def with_dtd(part: str, prolog: bytes = b""):
    """A DTD in one part, after `prolog` (a long comment pushes it past the first chunk)."""

    def patch(name: str, data: bytes) -> bytes:
        return DECLARATION + prolog + DTD + data if name == part else data

    return patch


def with_dimension(name: str, data: bytes) -> bytes:
    if name == "xl/worksheets/sheet1.xml":
        import re

        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', data)
    return data


def with_far_cell(name: str, data: bytes) -> bytes:
    if name == "xl/worksheets/sheet1.xml":
        return data.replace(b"</row>", b'<c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>', 1)
    return data


def utf16(name: str, data: bytes) -> bytes:
    if name == "xl/worksheets/sheet1.xml":
        return data.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16")
    return data


def truncated(name: str, data: bytes) -> bytes:
    return data[: len(data) // 2] if name == "xl/worksheets/sheet1.xml" else data


def bomb() -> bytes:
    """A real workbook with one more part: 50 MB of spaces in about 50 KB."""
    source = zipfile.ZipFile(io.BytesIO(xlsx(good_rows())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        target.writestr("xl/media/padding.xml", b"<a>" + b" " * (50 * 1024 * 1024) + b"</a>")
    return out.getvalue()


@pytest.mark.parametrize(
    "filename,raw,row,fragment",
    [
        pytest.param(
            "dtd.xlsx",
            lambda: xlsx(good_rows(), patch=with_dtd("xl/worksheets/sheet1.xml")),
            0,
            "DTD",
            id="xlsx-with-dtd",
        ),
        pytest.param(
            "dtd.xlsx",
            lambda: xlsx(good_rows(), patch=with_dtd("[Content_Types].xml")),
            0,
            "DTD",
            id="xlsx-with-dtd-in-content-types",
        ),
        pytest.param(
            "dtd.xlsx",
            lambda: xlsx(
                good_rows(),
                patch=with_dtd("xl/styles.xml", b"<!--" + b"-" * 1 + b"x" * 200_003 + b"-->"),
            ),
            0,
            "DTD",
            id="xlsx-with-dtd-after-200KB-of-comment",
        ),
        pytest.param(
            "dim.xlsx",
            lambda: xlsx(good_rows(), patch=with_dimension),
            0,
            "A1:XFD1048576",
            id="xlsx-declaring-A1:XFD1048576",
        ),
        pytest.param(
            "wide.xlsx",
            lambda: xlsx(good_rows(), patch=with_far_cell),
            0,
            "列数过多",
            id="xlsx-cell-in-XFD",
        ),
        pytest.param(
            "u16.xlsx", lambda: xlsx(good_rows(), patch=utf16), 0, "UTF-8", id="xlsx-utf16-xml"
        ),
        pytest.param(
            "cut.xlsx",
            lambda: xlsx(good_rows(), patch=truncated),
            0,
            "XLSX",
            id="xlsx-truncated-sheet",
        ),
        pytest.param("bomb.xlsx", bomb, 0, "压缩", id="xlsx-zip-bomb"),
        pytest.param(
            "field.csv",
            lambda: (HEADER + f'{VILLAGE},1组,"{"长" * 200_000}",{ident(1)},,\n').encode(),
            2,
            "128 KB",
            id="csv-field-of-200KB",
        ),
        pytest.param(
            "wide.csv",
            lambda: (HEADER + f"{VILLAGE},1组,甲,{ident(1)},," + "," * 60 + "\n").encode(),
            2,
            "列",
            id="csv-61-columns",
        ),
        pytest.param(
            "bidi.csv",
            lambda: (HEADER + f"{VILLAGE},1组,王\u202e五,{ident(1)},,\n").encode(),
            2,
            "U+202E",
            id="csv-U+202E-in-name",
        ),
        pytest.param(
            "nul.csv",
            lambda: (HEADER + f"{VILLAGE},1\x00组,王五,{ident(1)},,\n").encode(),
            2,
            "U+0000",
            id="csv-NUL-in-group",
        ),
        pytest.param(
            "long.csv",
            lambda: (HEADER + f"{VILLAGE},1组,{'王' * 51},{ident(1)},,\n").encode(),
            2,
            "50",
            id="csv-51-char-name",
        ),
        pytest.param(
            "member.csv",
            lambda: (
                HEADER + f"{VILLAGE},1组,王五,{ident(1)},,{'李' * 51}/配偶/{ident(2)}\n"
            ).encode(),
            2,
            "姓名",
            id="csv-51-char-member-name",
        ),
        pytest.param(
            "名单\u202ecsv.xlsx",
            lambda: (HEADER + f"{VILLAGE},1组,王五,{ident(1)},,\n").encode(),
            0,
            "U+202E",
            id="U+202E-in-the-file-name",
        ),
        pytest.param(
            "bidi.xlsx",
            lambda: xlsx(good_rows() + [[VILLAGE, "1组", "王\u2066五", ident(9), "", ""]]),
            4,
            "U+2066",
            id="xlsx-U+2066-in-name",
        ),
    ],
)
def test_hostile_files_are_refused_and_import_nothing(client, ctx, filename, raw, row, fragment):
    before = counts()
    r = upload(client, ctx, filename, raw())
    body = refused(r, 422)
    assert body["imported"] == 0
    assert any(e["row"] == row for e in body["errors"]), body["errors"]
    assert fragment in body["detail"] + " ".join(e["message"] for e in body["errors"]), body
    assert counts() == before


def test_too_many_rows_declared_or_present_in_xlsx(client, ctx, monkeypatch):
    from workflow.services import imports

    monkeypatch.setattr(imports, "MAX_ROWS", 5)
    before = counts()

    # Declared: the <dimension> says 100 rows.
    def declared(name, data):
        import re

        if name == "xl/worksheets/sheet1.xml":
            return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:F100"', data)
        return data

    body = refused(upload(client, ctx, "d.xlsx", xlsx(good_rows(2), patch=declared)), 422)
    assert "A1:F100" in body["detail"]

    # Present: no <dimension> at all, 8 <row> elements counted while streaming.
    def undeclared(name, data):
        import re

        return re.sub(rb"<dimension[^>]*/>", b"", data) if name.endswith("sheet1.xml") else data

    body = refused(upload(client, ctx, "r.xlsx", xlsx(good_rows(7), patch=undeclared)), 422)
    assert "行数过多" in body["detail"]
    assert counts() == before


def test_cjk_extensions_import(client, ctx):
    csv_text = HEADER + f"{VILLAGE},𠮷组,{CJK},{ident(3)},因病,䶮𠮷/配偶/{ident(4)}\n"
    r = upload(client, ctx, "cjk.csv", csv_text.encode("utf-8-sig"))
    assert r.status_code == 201, r.get_data(as_text=True)
    rows = good_rows(0) + [[VILLAGE, "𪚥组", "𫝀𬺰", ident(5), "", ""]]
    r = upload(client, ctx, "cjk.xlsx", xlsx(rows))
    assert r.status_code == 201, r.get_data(as_text=True)
    names = set(db.session.scalars(select(Household.head_name)))
    assert {CJK, "𫝀𬺰"} <= names


def test_a_plain_workbook_passes_the_screening_quickly():
    """A realistic 5,000-row workbook is screened in well under a second."""
    import time

    from workflow.services.imports import check_xlsx

    raw = xlsx(good_rows(5000))
    started = time.perf_counter()
    check_xlsx(raw)
    assert time.perf_counter() - started < 1.0


def test_json_depth_counts_brackets_outside_strings():
    from workflow.api import json_depth

    assert json_depth('{"a": [1, {"b": "]]]"}]}') == 3
    assert json_depth('"[[[[\\"[["') == 0
    assert json_depth("[" * 50 + "]" * 50) == 50
    assert json_depth("1") == 0


def test_xlsx_rows_are_counted_exactly_across_chunks(monkeypatch):
    """5,000 rows span many 64 KB chunks: exactly the limit passes, one more is refused."""
    from workflow.services import imports

    def undeclared(name, data):
        import re

        return re.sub(rb"<dimension[^>]*/>", b"", data) if name.endswith("sheet1.xml") else data

    raw = xlsx(good_rows(4999), patch=undeclared)  # a header and 4,999 rows
    monkeypatch.setattr(imports, "MAX_ROWS", 4999)
    imports.check_xlsx(raw)
    monkeypatch.setattr(imports, "MAX_ROWS", 4998)
    with pytest.raises(imports.ImportFailed, match="行数过多"):
        imports.check_xlsx(raw)


@pytest.mark.parametrize(
    "limit,value,fragment",
    [
        ("XLSX_MAX_UNCOMPRESSED", 10_000, "解压后过大"),
        ("XLSX_MAX_PARTS", 5, "条目过多"),
    ],
)
def test_xlsx_size_limits(monkeypatch, limit, value, fragment):
    from workflow.services import imports

    raw = xlsx(good_rows(50))
    imports.check_xlsx(raw)
    monkeypatch.setattr(imports, limit, value)
    with pytest.raises(imports.ImportFailed, match=fragment):
        imports.check_xlsx(raw)


def test_xlsx_declaring_another_encoding_is_refused():
    from workflow.services import imports

    def utf7(name, data):
        if name == "xl/styles.xml":
            return b'<?xml version="1.0" encoding="UTF-7"?>' + data
        return data

    with pytest.raises(imports.ImportFailed, match="UTF-8"):
        imports.check_xlsx(xlsx(good_rows(), patch=utf7))
