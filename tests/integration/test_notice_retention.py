"""A closed window's names leave public view after the retention; its code verifies for ever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.factories import (
    PASSWORD,
    TOWNSHIP,
    VILLAGE,
    add_household,
    post_village_window,
    set_now,
)
from workflow import config
from workflow.errors import ConfigurationError
from workflow.extensions import db
from workflow.models import Case
from workflow.services import cases, publicity, transitions


def posted(world, n=2):
    """A village window of n appraised households, posted Monday 21 Oct 2019 09:00."""
    return post_village_window(world, n, name="韦户主")


def bearer(client, username):
    r = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def to_state(ids, state):
    db.session.execute(update(Case).where(Case.id.in_(ids)).values(state=state))
    db.session.commit()


def reads(client, window, headers=None):
    """The status of each way to read the window's names, and the PDFs' cache headers."""
    headers = headers or {}
    api = client.get(f"/api/v1/publicity-windows/{window.id}", headers=headers)
    pdf = client.get(f"/api/v1/publicity-windows/{window.id}/notice.pdf", headers=headers)
    by_code = client.get(f"/api/v1/notices/{window.code}/pdf", headers=headers)
    page = client.get(f"/windows/{window.id}")
    return {
        "api": api.status_code,
        "pdf": pdf.status_code,
        "code": by_code.status_code,
        "page": page.status_code,
        "cache": {pdf.headers.get("Cache-Control"), by_code.headers.get("Cache-Control")},
        "responses": (api, pdf, by_code, page),
    }


PUBLIC = {"api": 200, "pdf": 200, "code": 200, "page": 200}
GONE = {"api": 410, "pdf": 410, "code": 410, "page": 410}


def statuses(result):
    return {k: result[k] for k in PUBLIC}


def test_names_stay_public_until_every_listed_case_is_announced(client, world):
    window, ids = posted(world)
    assert statuses(reads(client, window)) == PUBLIC
    publicity.sweep(window.closes_at)  # the period ends: on to township verification
    open_after = reads(client, window)
    assert statuses(open_after) == PUBLIC and open_after["cache"] == {"public, max-age=300"}
    assert "韦户主0" in open_after["responses"][3].get_data(as_text=True)
    assert "公示期已结束" in open_after["responses"][3].get_data(as_text=True)
    to_state(ids[:1], "announced")  # one announced, the other still on its way
    assert statuses(reads(client, window)) == PUBLIC
    to_state(ids[1:], "deferred")  # the other has left the procedure
    gone = reads(client, window)
    assert statuses(gone) == GONE
    api, pdf, by_code, page = gone["responses"]
    for r in (api, pdf, by_code):
        assert r.mimetype == "application/problem+json" and r.get_json()["status"] == 410
        assert "不再公开" in r.get_json()["detail"] and r.get_json()["code"] == window.code
    html = page.get_data(as_text=True)
    assert "名单已不再公开" in html and "韦户主0" not in html and page.mimetype == "text/html"
    # The code still verifies the notice: valid, issuer, date and the PDF's sha256.
    verified = client.get(f"/api/v1/notices/{window.code}").get_json()
    assert verified["valid"] is True and verified["issuer"] == "红星村村民委员会"
    assert verified["issued_at"].startswith("2019-10-21") and len(verified["sha256"]) == 64
    assert window.code in client.get(f"/verify?code={window.code}").get_data(as_text=True)
    # Users of its region still read it, never through a shared cache.
    for user in ("village1", "township1", "county1", "city1", "province1"):
        own = reads(client, window, bearer(client, user))
        assert (own["api"], own["pdf"], own["code"]) == (200, 200, 200), user
        assert own["cache"] == {"private, no-store"}
    # Everybody else gets what the public gets.
    for user in ("admin", "evaluator1", "village_other"):
        other = reads(client, window, bearer(client, user))
        assert (other["api"], other["pdf"], other["code"]) == (410, 410, 410), user


def test_a_case_listed_again_in_a_later_window_of_the_stage_frees_the_earlier_list(client, world):
    window, ids = posted(world, 1)
    publicity.sweep(window.closes_at)
    assert statuses(reads(client, window)) == PUBLIC
    # An upheld objection sent it back; surveyed and appraised again, it is posted anew.
    now = set_now("2019-11-04T09:00:00+08:00")
    to_state(ids, "appraised")
    again = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "村委会"}, None, now
    )
    assert statuses(reads(client, window)) == GONE
    assert statuses(reads(client, again)) == PUBLIC
    # Verified by three, its second publicity (township stage) keeps the village's list
    # public meanwhile: the case is still on its way to the announcement.
    publicity.sweep(again.closes_at)
    now = set_now("2019-11-20T09:00:00+08:00")
    for verifier in ("township2", "township3", "township4"):
        transitions.fire_one(
            "verify", ids[0], world[verifier], {"result": "pass", "visited_on": "2019-11-19"}, now
        )
    db.session.commit()
    second = publicity.post(
        world["township1"], TOWNSHIP, ids, {"phone": "1", "address": "镇政府"}, None, now
    )
    publicity.sweep(second.closes_at)
    assert db.session.get(Case, ids[0]).state == "county_review"
    assert statuses(reads(client, again)) == PUBLIC
    assert statuses(reads(client, second)) == PUBLIC
    to_state(ids, "announced")
    assert statuses(reads(client, again)) == GONE
    assert statuses(reads(client, second)) == GONE


def test_retention_in_days_counts_from_the_end_of_the_period(app, client, world):
    app.config["EXITFLOW_NOTICE_RETENTION"] = 3
    window, ids = posted(world, 1)
    publicity.sweep(window.closes_at)
    to_state(ids, "announced")  # announcement does not matter with a number of days
    set_now((window.closes_at + timedelta(days=3, seconds=-1)).isoformat())
    assert statuses(reads(client, window)) == PUBLIC
    set_now((window.closes_at + timedelta(days=3)).isoformat())
    assert statuses(reads(client, window)) == GONE
    app.config["EXITFLOW_NOTICE_RETENTION"] = 0
    set_now((window.closes_at + timedelta(seconds=1)).isoformat())
    assert statuses(reads(client, window)) == GONE


def test_announcements_stay_public(client, world):
    now = set_now("2019-12-01T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"])], 2019, now
    )
    to_state(ids, "announced")
    made = client.post(
        "/api/v1/announcements",
        json={"scope_code": VILLAGE, "year": 2019},
        headers=bearer(client, "county1"),
    ).get_json()
    set_now("2025-01-01T09:00:00+08:00")
    assert client.get(f"/api/v1/notices/{made['code']}/pdf").status_code == 200


@pytest.mark.parametrize(
    "value,expected",
    [("announcement", "announcement"), (" Announcement ", "announcement"), ("30", 30), (0, 0)],
)
def test_the_retention_setting(value, expected):
    assert config.notice_retention(value) == expected


@pytest.mark.parametrize("value", ["soon", "-1", -1, "1.5", True, ""])
def test_a_wrong_retention_setting_is_refused_at_start(value, tmp_path):
    with pytest.raises(ConfigurationError, match="EXITFLOW_NOTICE_RETENTION"):
        config.load(
            tmp_path,
            {
                "EXITFLOW_SECRET_KEY": "k",
                "EXITFLOW_DATABASE_URL": "sqlite://",
                "EXITFLOW_NOTICE_RETENTION": value,
            },
        )


def test_the_default_is_announcement(app):
    assert app.config["EXITFLOW_NOTICE_RETENTION"] == "announcement"
    assert publicity.pending_states("household_exit", "village") == {
        "village_publicity",
        "township_verification",
        "verified",
        "township_publicity",
        "county_review",
        "filed",
        "evaluated",
        "objection_review",
    }
    assert publicity.pending_states("village_exit", "township") == {
        "publicity",
        "county_review",
        "approved",
        "objection_review",
    }
