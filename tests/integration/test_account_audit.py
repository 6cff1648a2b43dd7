"""Every act on accounts and every sign-in attempt is in the audit record, and it still verifies.

Read back through the audit API as the audit administrator (三员分立), as an
auditor would.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, VILLAGE
from workflow import clock
from workflow.errors import Unauthenticated
from workflow.extensions import db
from workflow.models import AuditRecord, User
from workflow.models.users import WebSession
from workflow.services import audit, users

WRONG = "Wrong-password-1"


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def bearer(client, username, password=PASSWORD, address="10.4.0.1"):
    r = client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def web_sign_in(client, username, address="10.4.0.2"):
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token_of(page)},
        environ_base={"REMOTE_ADDR": address},
    )
    assert r.status_code == 302
    return token_of(client.get("/").get_data(as_text=True))


def records(http, auditor, trigger) -> list[dict]:
    r = http.get(f"/api/v1/audit?trigger={trigger}&per_page=1000", headers=auditor)
    assert r.status_code == 200
    return r.get_json()["items"]


def only(http, auditor, trigger, **data) -> dict:
    """The one record of the trigger whose data has these values."""
    found = [
        r
        for r in records(http, auditor, trigger)
        if all(r["data"].get(k) == v for k, v in data.items())
    ]
    assert len(found) == 1, (trigger, data, records(http, auditor, trigger))
    return found[0]


def test_every_account_act_is_audited_and_the_chain_verifies(client, world, app, runner):
    users.create("auditor", PASSWORD, "auditor", None, "审计管理员", clock.now())
    auditor = bearer(client, "auditor")
    admin = bearer(client, "admin")

    # Users: created, disabled, enabled (API); role changed, password reset (admin page).
    r = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "clerk9",
            "password": PASSWORD,
            "role": "village",
            "region_code": VILLAGE,
            "display_name": "新文书",
        },
    )
    assert r.status_code == 201
    created = only(client, auditor, "user_created", username="clerk9")
    assert (created["actor"], created["role"], created["data"]["role"]) == (
        "admin",
        "admin",
        "village",
    )
    assert created["chain"] == "430623"  # the target's county chain
    assert (
        client.patch("/api/v1/users/clerk9", json={"active": False}, headers=admin).status_code
        == 200
    )
    assert only(client, auditor, "user_disabled", username="clerk9")["actor"] == "admin"
    assert (
        client.patch("/api/v1/users/clerk9", json={"active": True}, headers=admin).status_code
        == 200
    )
    assert only(client, auditor, "user_enabled", username="clerk9")["actor"] == "admin"

    browser = app.test_client()
    csrf = web_sign_in(browser, "admin")
    browser.post(
        "/admin/role",
        data={
            "csrf_token": csrf,
            "username": "clerk9",
            "role": "township",
            "region_code": "430623100000",
        },
    )
    moved = only(client, auditor, "role_changed", username="clerk9")
    assert moved["actor"] == "admin"
    assert moved["data"]["from"] == {"role": "village", "region_code": VILLAGE}
    assert moved["data"]["to"] == {"role": "township", "region_code": "430623100000"}
    browser.post(
        "/admin/password",
        data={"csrf_token": csrf, "username": "clerk9", "password": "Reset-password-2019"},
    )
    assert only(client, auditor, "password_reset", username="clerk9")["actor"] == "admin"
    clerk = db.session.scalar(select(User).where(User.username == "clerk9"))
    users.change_password(clerk.id, "Reset-password-2019", "Own-password-2019", clock.now())
    assert only(client, auditor, "password_changed", username="clerk9")["actor"] == "clerk9"

    # Sign-ins: succeeded on both paths, failed, locked out (pair and account), lifted.
    village = bearer(client, "village1", address="10.4.0.7")
    api_login = only(client, auditor, "login", via="api", client="10.4.0.7")
    assert (api_login["actor"], api_login["kind"]) == ("village1", "auth")
    web_sign_in(app.test_client(), "village1", address="10.4.0.8")
    assert only(client, auditor, "login", via="web", client="10.4.0.8")["actor"] == "village1"
    for n in range(6):
        for _ in range(5):
            r = client.post(
                "/api/v1/auth/token",
                json={"username": "county2", "password": WRONG},
                environ_base={"REMOTE_ADDR": f"10.4.1.{n}"},
            )
            assert r.status_code == 401
    failed = records(client, auditor, "login_failed")
    assert len(failed) == 30 and {(r["actor"], r["role"]) for r in failed} == {
        ("anonymous", "public")
    }
    assert [r["data"] for r in failed[:5]] == [
        {"username": "county2", "client": "10.4.1.0", "via": "api", "reason": "wrong_password"}
    ] * 5
    pair = only(client, auditor, "lockout", scope="pair", client="10.4.1.3")
    assert (pair["actor"], pair["data"]["username"], pair["data"]["failures"]) == (
        "system",
        "county2",
        5,
    )
    account = only(client, auditor, "lockout", scope="account")
    assert account["data"]["username"] == "county2" and account["data"]["failures"] == 30
    refused = client.post(
        "/api/v1/auth/token",
        json={"username": "county2", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.4.2.1"},
    )
    assert refused.status_code == 401
    assert only(client, auditor, "login_failed", reason="locked_account")["actor"] == "anonymous"
    browser.post(
        "/admin/locks/lift",
        data={"csrf_token": csrf, "scope": "account", "username": "county2", "client": ""},
    )
    lifted = only(client, auditor, "lock_lifted", username="county2")
    assert (lifted["actor"], lifted["data"]["scope"]) == ("admin", "account")

    # Sessions and tokens: ended by the admin, revoked by their holder, logged out.
    session_id = db.session.scalar(
        select(WebSession.id).where(WebSession.client == "10.4.0.8", WebSession.ended_at.is_(None))
    )
    browser.post(f"/admin/sessions/{session_id}/end", data={"csrf_token": csrf})
    ended = only(client, auditor, "session_ended", session_id=session_id)
    assert (ended["actor"], ended["data"]["username"]) == ("admin", "village1")
    assert client.post("/api/v1/auth/revoke", headers=village).status_code == 200
    assert only(client, auditor, "token_revoked", username="village1")["actor"] == "village1"
    browser.post("/logout", data={"csrf_token": csrf})
    assert [r["actor"] for r in records(client, auditor, "logout")] == ["admin"]

    # No password, no token, in any record.
    db.session.commit()
    texts = [r.data_json for r in db.session.scalars(select(AuditRecord))]
    for secret in (PASSWORD, WRONG, "Reset-password-2019", "Own-password-2019"):
        assert not any(secret in t for t in texts)
    assert not any(village["Authorization"][7:] in t for t in texts)
    assert all(isinstance(json.loads(t), dict) for t in texts)

    assert audit.verify(full=True).ok
    result = runner.invoke(args=["verify-audit", "--full", "--workers", "1"])
    assert result.exit_code == 0 and "audit chain intact" in result.output


def test_a_failed_login_of_an_unknown_name_is_audited_without_a_region(client, world):
    r = client.post(
        "/api/v1/auth/token",
        json={"username": "ghost", "password": WRONG},
        environ_base={"REMOTE_ADDR": "10.4.3.1"},
    )
    assert r.status_code == 401
    with pytest.raises(Unauthenticated):  # a service caller may pass a longer name
        users.authenticate("x" * 300, WRONG, clock.now(), client="10.4.3.2", via="web")
    db.session.commit()
    rows = db.session.scalars(
        select(AuditRecord).where(AuditRecord.trigger == "login_failed").order_by(AuditRecord.id)
    ).all()
    assert [json.loads(row.data_json) for row in rows] == [
        {"username": "ghost", "client": "10.4.3.1", "via": "api", "reason": "unknown_user"},
        {"username": "x" * 64, "client": "10.4.3.2", "via": "web", "reason": "unknown_user"},
    ]
    assert {(row.chain, row.actor_username, row.kind) for row in rows} == {
        ("-", "anonymous", "auth")
    }
    assert audit.verify(full=True).ok
