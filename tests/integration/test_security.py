"""Attacks on authentication, separation of duties, headers and public rate limits."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import PASSWORD, add_household, set_now
from workflow import clock
from workflow.extensions import db
from workflow.services import cases, users


def login(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def bearer(client, username):
    return {"Authorization": f"Bearer {login(client, username).get_json()['token']}"}


def test_five_failures_lock_the_account_for_fifteen_minutes(client, world, caplog):
    for _ in range(5):
        assert login(client, "village1", "wrong-password").status_code == 401
    locked = login(client, "village1")
    assert locked.status_code == 401  # even with the right password
    assert locked.get_json()["detail"] == login(client, "nobody", "x").get_json()["detail"]
    assert "locked for 0:15:00" in caplog.text
    set_now("2019-10-08T09:14:59+08:00")
    assert login(client, "village1").status_code == 401
    set_now("2019-10-08T09:15:01+08:00")
    assert login(client, "village1").status_code == 200


def test_tokens_expire_and_can_be_revoked(client, world):
    headers = bearer(client, "county1")
    assert client.get("/api/v1/cases", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/revoke", headers=headers).status_code == 200
    assert client.get("/api/v1/cases", headers=headers).status_code == 401
    headers = bearer(client, "county1")
    clock.set_fake_now(clock.now() + timedelta(hours=12))
    assert client.get("/api/v1/cases", headers=headers).status_code == 401


def test_an_admin_disables_a_user_at_once(client, world):
    headers = bearer(client, "township1")
    admin = bearer(client, "admin")
    r = client.patch("/api/v1/users/township1", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert client.get("/api/v1/cases", headers=headers).status_code == 401
    assert login(client, "township1").status_code == 401
    assert (
        client.patch(
            "/api/v1/users/township2", json={"active": False}, headers=bearer(client, "county1")
        ).status_code
        == 403
    )


def test_separation_of_administrative_duties(client, world):
    users.create("auditor1", PASSWORD, "auditor", None, "审计管理员", clock.now())
    hid = add_household(world["village1"])
    [cid] = cases.open_household_cases(world["township1"], [hid], 2019, clock.now())
    db.session.commit()
    admin, auditor = bearer(client, "admin"), bearer(client, "auditor1")
    # The system administrator: users and regions, but no case, household or audit record.
    assert client.get(f"/api/v1/cases/{cid}", headers=admin).status_code == 403
    assert client.get("/api/v1/cases", headers=admin).status_code == 403
    assert client.get(f"/api/v1/households/{hid}", headers=admin).status_code == 403
    assert client.get("/api/v1/audit", headers=admin).status_code == 403
    assert (
        client.post(
            "/api/v1/cases/batch-transitions",
            headers=admin,
            json={"trigger": "defer", "case_ids": [cid], "data": {"reason": "x"}},
        ).get_json()["failed"][0]["status"]
        == 403
    )
    # The audit administrator reads the record and changes nothing.
    records = client.get(f"/api/v1/audit?case_id={cid}", headers=auditor).get_json()
    assert [r["trigger"] for r in records["items"]] == ["create"]
    assert client.get(f"/api/v1/cases/{cid}", headers=auditor).status_code == 403
    assert (
        client.post(
            "/api/v1/regions",
            headers=auditor,
            json={"code": "110000", "name": "x", "level": "province"},
        ).status_code
        == 403
    )
    assert client.get("/api/v1/audit", headers=bearer(client, "county1")).status_code == 403


def test_security_headers_and_no_stack_traces(client, world, app, monkeypatch):
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    from workflow.api import regions as region_api

    def boom(*_a, **_k):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(region_api.regions, "get", boom)
    r = client.get("/api/v1/regions/430623", headers=bearer(client, "county1"))
    assert r.status_code == 500 and "secret" not in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)


def test_public_routes_are_rate_limited_per_client(client, world, app):
    app.config["EXITFLOW_RATE_LIMITS"] = {"public_read": 5, "objections": 2, "login": 3}
    codes = [client.get("/api/v1/notices/NOPE").status_code for _ in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    r = client.get("/api/v1/notices/NOPE")
    assert r.mimetype == "application/problem+json" and r.get_json()["retry_after"] >= 1
    other = client.get("/api/v1/notices/NOPE", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 404  # another client has its own allowance
    codes = [login(client, "nobody", "x").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_password_policy(world):
    import pytest

    from workflow.errors import ValidationFailed

    for weak in ("short1A", "alllowercaseletters", "NoDigitsOrSigns"):
        with pytest.raises(ValidationFailed):
            users.create("weak", weak, "village", "430623100201", None, clock.now())
    user = users.create("strong", "Str0ng-enough!", "village", "430623100201", None, clock.now())
    assert user.password_hash.startswith("pbkdf2:") or user.password_hash.startswith("scrypt:")
    assert "Str0ng" not in user.password_hash
