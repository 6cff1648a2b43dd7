"""Objections: real name and contact, lengths, daily limits — one set of rules on every path."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import (
    PASSWORD,
    add_household,
    post_village_window,
    set_now,
)
from workflow.extensions import db
from workflow.models import Objection
from workflow.services import cases, publicity
from workflow.web import public

GOOD = {"name": "韦某某", "contact": "13800138000", "content": "该户家中收入情况需要核实"}


def open_window(world, n=2):
    """A village window listing n appraised cases, posted Monday 21 Oct 2019 09:00."""
    window, ids = post_village_window(world, n)
    return window.id, ids


def count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Objection))


def lodge(client, window_id, case_id, client_address="10.0.0.1", **fields):
    return client.post(
        f"/api/v1/publicity-windows/{window_id}/objections",
        json={"case_id": case_id, **GOOD, **fields},
        environ_base={"REMOTE_ADDR": client_address},
    )


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("name", "韦", "真实姓名"),
        ("name", "1234", "汉字或字母"),
        ("name", "韦某\u202e某", "控制字符"),
        ("name", "韦" * 51, "50"),
        ("contact", "", "联系电话或联系地址"),
        ("contact", "   ", "联系电话或联系地址"),
        ("contact", "123", "手机号"),
        ("contact", "wechat abc", "手机号"),
        ("contact", "1380013800", "手机号"),  # ten digits: no number at all
        ("contact", "村" * 101, "长度不能超过"),
        ("content", "太短", "5至2000"),
        ("content", "内" * 2001, "2000"),
    ],
)
def test_the_api_refuses_an_objection_without_name_contact_or_fit_content(
    client, world, field, value, message
):
    window_id, ids = open_window(world, 1)
    r = lodge(client, window_id, ids[0], **{field: value})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert message in " ".join(r.get_json()["errors"][field])
    assert list(r.get_json()["errors"]) == [field]
    assert count() == 0


def test_name_and_contact_are_required_fields_of_the_api(client, world):
    window_id, ids = open_window(world, 1)
    r = client.post(
        f"/api/v1/publicity-windows/{window_id}/objections",
        json={"case_id": ids[0], "content": "该户收入情况需要核实"},
    )
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"name", "contact"}
    assert count() == 0


@pytest.mark.parametrize(
    "contact",
    ["13800138000", "+86 138-0013-8000", "0776-5231234", "(0776)5231234", "红星村三组12号"],
)
def test_a_phone_number_or_an_address_will_do(client, world, contact):
    window_id, ids = open_window(world, 1)
    r = lodge(client, window_id, ids[0], contact=contact, name="  韦某某 ")
    assert r.status_code == 201, r.get_json()
    stored = db.session.get(Objection, r.get_json()["id"])
    assert (stored.name, stored.contact) == ("韦某某", contact)
    # The client address is counted through a keyed hash, never stored as such.
    assert stored.client_hash and "10.0.0.1" not in stored.client_hash
    assert len(stored.client_hash) == 32


def test_daily_limits_per_client_and_window_then_per_window(app, client, world):
    window_id, ids = open_window(world, 2)
    codes = [lodge(client, window_id, ids[i % 2]).status_code for i in range(6)]
    assert codes == [201] * 5 + [429]
    refused = lodge(client, window_id, ids[0])
    assert refused.mimetype == "application/problem+json"
    assert "每天最多提交 5 条" in refused.get_json()["detail"]
    assert refused.get_json()["retry_after"] >= 1
    assert count() == 5
    # Another client still may; so may the first one on the next day.
    assert lodge(client, window_id, ids[0], client_address="10.0.0.2").status_code == 201
    set_now("2019-10-22T00:00:01+08:00")
    assert lodge(client, window_id, ids[0]).status_code == 201
    # The window's own cap counts every client's online objections of the day.
    app.config["EXITFLOW_OBJECTION_LIMITS"] = {"per_window_per_day": 3}
    assert lodge(client, window_id, ids[1], client_address="10.0.0.3").status_code == 201
    assert lodge(client, window_id, ids[1], client_address="10.0.0.4").status_code == 201
    capped = lodge(client, window_id, ids[1], client_address="10.0.0.5")
    assert capped.status_code == 429 and "已达上限" in capped.get_json()["detail"]
    other_window, other_ids = open_window(world, 1)
    set_now("2019-10-22T10:00:00+08:00")
    assert lodge(client, other_window, other_ids[0], client_address="10.0.0.5").status_code == 201


def _form(client, window_id):
    page = client.get(f"/windows/{window_id}").get_data(as_text=True)
    return {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "stamp": re.search(r'name="stamp" value="([^"]+)"', page).group(1),
    }


def test_the_web_form_has_the_same_rules_and_shares_the_limits(app, client, world, monkeypatch):
    monkeypatch.setattr(public, "MIN_FILL_SECONDS", 0)  # the fill time is tested elsewhere
    window_id, ids = open_window(world, 1)
    base = {**_form(client, window_id), "case_id": str(ids[0]), "content": "该户收入需要核实"}
    page = client.post(
        f"/windows/{window_id}/objections", data={**base, "name": "韦某某"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "未能提交" in page and "联系电话或联系地址" in page and count() == 0
    page = client.post(
        f"/windows/{window_id}/objections",
        data={**base, "name": "韦", "phone": "13800138000"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "真实姓名" in page and count() == 0
    page = client.post(
        f"/windows/{window_id}/objections",
        data={**base, "name": "韦某某", "address": "红星村三组12号"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "异议已登记" in page and count() == 1
    stored = db.session.scalars(select(Objection)).one()
    assert (stored.name, stored.contact) == ("韦某某", "红星村三组12号")
    # Four more through the API from the same client reach its daily allowance; the
    # form then refuses as the API does.
    for _ in range(4):
        assert lodge(client, window_id, ids[0], client_address="127.0.0.1").status_code == 201
    page = client.post(
        f"/windows/{window_id}/objections",
        data={**base, "name": "韦某某", "phone": "13800138000"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "每天最多提交 5 条" in page and count() == 5


def test_a_clerk_of_the_area_records_at_the_office_beyond_the_online_limits(app, client, world):
    window_id, ids = open_window(world, 1)
    app.config["EXITFLOW_OBJECTION_LIMITS"] = {"per_window_per_day": 1}
    assert lodge(client, window_id, ids[0], client_address="127.0.0.1").status_code == 201
    assert lodge(client, window_id, ids[0], client_address="10.0.0.9").status_code == 429
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "village1", "password": PASSWORD, "csrf_token": token})
    form = {**_form(client, window_id), "case_id": str(ids[0]), "content": "到村委会反映收入不实"}
    page = client.post(
        f"/windows/{window_id}/objections",
        data={**form, "name": "覃某某", "phone": "0776-5231234"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "异议已登记" in page
    office = db.session.scalars(select(Objection).order_by(Objection.id.desc())).first()
    assert office.client_hash is None and "在办公室代为登记" in office.contact
    # The same rules on what is recorded: a name and a contact.
    page = client.post(
        f"/windows/{window_id}/objections",
        data={**form, "name": "覃某某"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "联系电话或联系地址" in page and count() == 2


def test_objections_after_closing_or_on_unlisted_cases_are_refused(client, world):
    window_id, ids = open_window(world, 1)
    other = cases.open_household_cases(
        world["township1"],
        [add_household(world["village1"])],
        2019,
        set_now("2019-10-22T09:00:00+08:00"),
    )
    db.session.commit()
    assert lodge(client, window_id, other[0]).status_code == 404
    assert lodge(client, 2**31 - 1, ids[0]).status_code == 404
    window = db.session.get(publicity.PublicityWindow, window_id)
    set_now((window.closes_at + timedelta(seconds=1)).isoformat())
    late = lodge(client, window_id, ids[0])
    assert late.status_code == 409 and "公示期已结束" in late.get_json()["detail"]
    assert count() == 0
