"""Bad input gets a clear 4xx problem+json naming the field or reason, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import PASSWORD, VILLAGE, add_household, set_now
from workflow.extensions import db
from workflow.models import AuditRecord, Case


def token(client, username):
    r = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


@pytest.fixture
def planned(world):
    hid = add_household(world["village1"])
    from workflow.services import cases

    [cid] = cases.open_household_cases(
        world["township1"], [hid], 2019, set_now("2019-10-16T09:00:00+08:00")
    )
    db.session.commit()
    return cid


def problem(r, status):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def audit_count():
    """Records of case steps (sign-ins are audited too, apart: kind auth)."""
    return db.session.scalar(
        select(func.count()).select_from(AuditRecord).where(AuditRecord.kind != "auth")
    )


def test_unauthenticated_and_bad_token(client, world):
    problem(client.get("/api/v1/cases"), 401)
    problem(client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}), 401)
    body = problem(
        client.post("/api/v1/auth/token", json={"username": "village1", "password": "wrong"}), 401
    )
    unknown = problem(
        client.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong"}), 401
    )
    assert body["detail"] == unknown["detail"]  # no user enumeration


def test_malformed_json_wrong_type_and_missing_fields(client, world, planned):
    h = token(client, "village1")
    url = f"/api/v1/cases/{planned}/transitions"
    before = audit_count()
    problem(
        client.post(url, data="{not json", headers={**h, "Content-Type": "application/json"}), 400
    )
    problem(client.post(url, data="trigger=x", headers=h), 400)
    body = problem(
        client.post(
            url,
            json={
                "trigger": "submit_survey",
                "data": {
                    "surveyed_on": "2019-10-15",
                    "surveyors": "韦组长",
                    "income_per_capita": "lots",
                    "indicators": {},
                },
            },
            headers=h,
        ),
        422,
    )
    assert {"data.surveyors", "data.income_per_capita"} <= set(body["errors"])
    body = problem(client.post(url, json={"trigger": "submit_survey", "data": {}}, headers=h), 422)
    assert "data.surveyed_on" in body["errors"] and "data.indicators" in body["errors"]
    body = problem(client.post(url, json={"data": {}}, headers=h), 422)
    assert "trigger" in body["errors"]
    body = problem(client.post(url, json={"trigger": "fly_away"}, headers=h), 409)
    assert "fly_away" in body["detail"]
    body = problem(
        client.post(
            url,
            json={
                "trigger": "submit_survey",
                "data": {
                    "surveyed_on": "2019-10-17",
                    "surveyors": ["甲", "乙"],
                    "income_per_capita": 5000,
                    "indicators": {},
                },
            },
            headers=h,
        ),
        422,
    )
    assert "future" in body["errors"]["data.surveyed_on"][0]
    body = problem(
        client.post(
            url,
            json={
                "trigger": "submit_survey",
                "data": {
                    "surveyed_on": "2019-10-15",
                    "surveyors": ["甲", "乙"],
                    "income_per_capita": 5000,
                    "indicators": {"flying_car": True},
                },
            },
            headers=h,
        ),
        422,
    )
    assert "flying_car" in str(body["errors"])
    assert audit_count() == before
    assert db.session.get(Case, planned).state == "planned"


def test_trigger_not_allowed_in_state_role_and_region(client, world, planned):
    body = problem(
        client.post(
            f"/api/v1/cases/{planned}/transitions",
            json={
                "trigger": "appraise",
                "data": {
                    "meeting_on": "2019-10-15",
                    "present": 3,
                    "votes_for": 3,
                    "votes_against": 0,
                },
            },
            headers=token(client, "village1"),
        ),
        409,
    )
    assert "appraise" in body["detail"]
    problem(
        client.post(
            f"/api/v1/cases/{planned}/transitions",
            json={"trigger": "approve"},
            headers=token(client, "village1"),
        ),
        403,
    )
    problem(client.get(f"/api/v1/cases/{planned}", headers=token(client, "village_other")), 404)
    problem(
        client.post(
            f"/api/v1/cases/{planned}/transitions",
            json={"trigger": "defer", "data": {"reason": "x"}},
            headers=token(client, "township_other"),
        ),
        404,
    )
    problem(
        client.post(
            f"/api/v1/cases/{planned}/transitions",
            json={"trigger": "close_window"},
            headers=token(client, "village1"),
        ),
        403,
    )


def test_stale_version_is_a_409_and_nothing_is_lost(client, world, planned):
    h = token(client, "village1")
    url = f"/api/v1/cases/{planned}/transitions"
    survey = {
        "surveyed_on": "2019-10-15",
        "surveyors": ["甲", "乙"],
        "income_per_capita": 5000,
        "indicators": {
            k: True
            for k in ("food", "clothing", "compulsory_education", "basic_medical", "housing_safety")
        },
    }
    ok = client.post(
        url, json={"trigger": "submit_survey", "data": survey, "expected_version": 1}, headers=h
    )
    assert ok.status_code == 200 and ok.get_json()["version"] == 2
    body = problem(
        client.post(
            url, json={"trigger": "submit_survey", "data": survey, "expected_version": 1}, headers=h
        ),
        409,
    )
    assert "版本" in body["detail"] and body["current_version"] == 2
    assert db.session.get(Case, planned).version == 2


def test_oversized_body_is_413(client, world, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post(
        "/api/v1/households",
        data="x" * 5000,
        headers={**token(client, "village1"), "Content-Type": "application/json"},
    )
    problem(r, 413)


def test_batch_all_or_nothing_and_per_case_outcome(client, world):
    now = set_now("2019-11-12T09:00:00+08:00")
    from workflow.services import cases

    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"]) for _ in range(3)], 2019, now
    )
    db.session.commit()
    h = token(client, "village1")
    r = client.post(
        "/api/v1/cases/batch-transitions",
        json={
            "trigger": "defer",
            "case_ids": ids + [999999],
            "data": {"reason": "外出"},
            "all_or_nothing": True,
        },
        headers=h,
    )
    body = r.get_json()
    assert body["succeeded"] == []
    assert {f["id"]: f["status"] for f in body["failed"]} == {
        999999: 404,
        ids[0]: 409,
        ids[1]: 409,
        ids[2]: 409,
    }
    assert {db.session.get(Case, i).state for i in ids} == {"planned"}
    r = client.post(
        "/api/v1/cases/batch-transitions",
        json={"trigger": "defer", "case_ids": ids + [999999], "data": {"reason": "外出"}},
        headers=h,
    )
    body = r.get_json()
    assert body["succeeded"] == ids and [f["id"] for f in body["failed"]] == [999999]
    db.session.expire_all()
    assert {db.session.get(Case, i).state for i in ids} == {"deferred"}


def test_household_id_numbers_validated_and_masked(client, world):
    h = token(client, "village1")
    body = problem(
        client.post(
            "/api/v1/households",
            json={
                "village_code": VILLAGE,
                "group": "一组",
                "head_name": "张三",
                "head_id_number": "430623196001011235",
                "members": [],
            },
            headers=h,
        ),
        422,
    )
    assert "head_id_number" in body["errors"]
    hid = add_household(world["village1"])
    full = client.get(f"/api/v1/households/{hid}", headers=h).get_json()
    masked = client.get(f"/api/v1/households/{hid}", headers=token(client, "county1")).get_json()
    assert "*" not in full["head_id_number"]
    assert (
        masked["head_id_number"]
        == full["head_id_number"][:6] + "*" * 8 + full["head_id_number"][-4:]
    )
    listing = client.get("/api/v1/households", headers=h).get_json()
    assert all("*" in item["head_id_number"] for item in listing["items"])


def test_openapi_document_lists_every_api_route(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")}
    import re

    paths = {"/api/v1" + p if not p.startswith("/api") else p for p in spec["paths"]}
    expected = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r) for r in rules} - {"/api/v1/openapi.json"}
    assert expected <= paths
    post = spec["paths"]["/api/v1/cases/batch-transitions"]["post"]
    assert "requestBody" in post


def test_front_page_in_chinese(client, world):
    r = client.get("/")
    assert r.status_code == 200 and "贫困退出工作平台" in r.get_data(as_text=True)


def test_idempotency_key_reused_with_another_body_is_refused(client, world):
    now = set_now("2019-11-12T09:00:00+08:00")
    from workflow.services import cases

    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"])], 2019, now
    )
    db.session.commit()
    h = {**token(client, "village1"), "Idempotency-Key": "k-1"}
    first = client.post(
        "/api/v1/cases/batch-transitions",
        json={"trigger": "defer", "case_ids": ids, "data": {"reason": "外出"}},
        headers=h,
    )
    assert first.status_code == 200 and first.get_json()["succeeded"] == ids
    again = client.post(
        "/api/v1/cases/batch-transitions",
        json={"trigger": "defer", "case_ids": ids, "data": {"reason": "外出"}},
        headers=h,
    )
    assert again.get_json() == first.get_json()
    body = problem(
        client.post(
            "/api/v1/cases/batch-transitions",
            json={"trigger": "defer", "case_ids": ids, "data": {"reason": "别的"}},
            headers=h,
        ),
        422,
    )
    assert "Idempotency-Key" in body["errors"]
    assert audit_count() == 2  # create + one defer, not two
