"""Login throttling: locks per (account, client address) first, the account only after many
failures from anywhere, a per-address limit on both login paths, and the admin's view."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.factories import PASSWORD, set_now
from workflow.extensions import db
from workflow.models.users import LoginLock

WRONG = "Wrong-password-1"


def token(client, username="village1", password=PASSWORD, address="10.5.0.1"):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def codes(client, n, **kwargs) -> list[int]:
    return [token(client, **kwargs).status_code for _ in range(n)]


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def web_login(client, username="village1", password=PASSWORD, address="10.5.0.1"):
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token_of(page)},
        environ_base={"REMOTE_ADDR": address},
    )


def locks() -> list[tuple[str, str, str]]:
    db.session.commit()
    return sorted(
        (lock.scope, lock.username, lock.client) for lock in db.session.scalars(select(LoginLock))
    )


def test_five_failures_lock_the_account_from_that_address_only(client, world, caplog):
    assert codes(client, 5, password=WRONG) == [401] * 5
    refused = token(client)
    assert refused.status_code == 401  # even with the right password
    assert refused.get_json()["detail"] == token(client, "nobody", WRONG).get_json()["detail"]
    assert "locked for 0:15:00 after 5 failed logins from 10.5.0.1" in caplog.text
    # The owner, elsewhere, is not locked out by someone failing on purpose.
    assert token(client, address="10.5.0.2").status_code == 200
    assert web_login(client, address="10.5.0.2").status_code == 302
    assert web_login(client).status_code == 401  # the web form shares the lock
    assert locks() == [("pair", "village1", "10.5.0.1")]
    set_now("2019-10-08T09:14:59+08:00")
    assert token(client).status_code == 401
    set_now("2019-10-08T09:15:01+08:00")
    assert token(client).status_code == 200


def test_locked_attempts_do_not_count_and_a_success_forgets_failures(client, world):
    assert codes(client, 4, password=WRONG) == [401] * 4
    assert token(client).status_code == 200  # forgets the four
    assert codes(client, 4, password=WRONG) == [401] * 4
    assert token(client).status_code == 200
    assert locks() == []
    assert codes(client, 5, password=WRONG) == [401] * 5
    assert codes(client, 10, password=WRONG) == [401] * 10  # locked: not counted
    set_now("2019-10-08T09:15:01+08:00")
    assert token(client).status_code == 200  # the lock expired and was not extended


def test_many_addresses_lock_the_account_as_a_whole(client, world, caplog):
    for n in range(6):  # 6 addresses x 5 failures = 30 within the hour
        assert codes(client, 5, password=WRONG, address=f"10.6.0.{n}") == [401] * 5
    refused = token(client, address="10.6.1.1")  # a new address, the right password
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == token(client, "nobody", WRONG).get_json()["detail"]
    assert "locked for 0:15:00 after 30 failed logins from any address" in caplog.text
    assert ("account", "village1", "") in locks()
    assert len(locks()) == 7  # and each of the six addresses
    set_now("2019-10-08T09:15:01+08:00")
    assert token(client, address="10.6.1.1").status_code == 200


def test_one_address_alone_cannot_lock_the_account(client, world):
    for minute in (0, 15, 30, 45):  # as often as its pair lock allows, for an hour
        set_now(f"2019-10-08T09:{minute:02d}:0{minute // 15 + 1}+08:00")
        assert codes(client, 6, password=WRONG, address="10.7.0.1") == [401] * 6
    assert [s for s, _, _ in locks()] == ["pair"]
    assert token(client, address="10.7.0.2").status_code == 200


def test_unknown_names_are_locked_alike(client, world):
    assert codes(client, 5, username="nobody", password=WRONG) == [401] * 5
    assert locks() == [("pair", "nobody", "10.5.0.1")]


def test_both_login_paths_share_one_limit_per_address(client, world, app):
    app.config["EXITFLOW_RATE_LIMITS"] = {"login": 3}
    assert token(client, password=WRONG).status_code == 401
    assert token(client).status_code == 200
    assert web_login(client, password=WRONG).status_code == 401
    page = web_login(client)  # the fourth attempt from this address within the minute
    assert page.status_code == 429 and "请求过于频繁" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) >= 1
    limited = token(client)
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert token(client, address="10.5.0.9").status_code == 200  # another address
    set_now("2019-10-08T09:02:00+08:00")
    assert web_login(client).status_code == 302


def test_the_default_limit_is_twenty_a_minute(client, world, app):
    app.config["EXITFLOW_RATE_LIMITS"] = {}
    results = codes(client, 21, username="nobody", password=WRONG)
    assert results[:20] == [401] * 20 and results[20] == 429


def test_the_admin_sees_and_lifts_locks(client, world, app):
    assert codes(client, 5, password=WRONG, address="10.8.0.1") == [401] * 5
    for n in range(6):
        codes(client, 5, username="county2", password=WRONG, address=f"10.8.1.{n}")
    admin = app.test_client()
    page = admin.get("/login").get_data(as_text=True)
    admin.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token_of(page)},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    html = admin.get("/admin").get_data(as_text=True)
    section = html[html.index("登录锁定") : html.index("重置密码")]
    assert "village1" in section and "10.8.0.1" in section and "账户+地址" in section
    assert "county2" in section and "整个账户" in section
    csrf = token_of(html)
    r = admin.post(
        "/admin/locks/lift",
        data={"csrf_token": csrf, "scope": "pair", "username": "village1", "client": "10.8.0.1"},
        follow_redirects=True,
    )
    assert "已解除 village1(来自 10.8.0.1)的登录锁定" in r.get_data(as_text=True)
    assert token(client, address="10.8.0.1").status_code == 200
    assert token(client, "county2", address="10.8.2.1").status_code == 401
    r = admin.post(
        "/admin/locks/lift",
        data={"csrf_token": csrf, "scope": "account", "username": "county2", "client": ""},
        follow_redirects=True,
    )
    assert "已解除 county2(全部地址)的登录锁定" in r.get_data(as_text=True)
    assert token(client, "county2", address="10.8.2.1").status_code == 200
    again = admin.post(
        "/admin/locks/lift",
        data={"csrf_token": csrf, "scope": "account", "username": "county2", "client": ""},
        follow_redirects=True,
    )
    assert "该锁定已解除或已到期" in again.get_data(as_text=True)
    assert ("account", "county2", "") not in locks()
