"""Server-side web sessions: what the cookie carries, when a session ends, the admin's view."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import select

from tests.factories import PASSWORD, TOWNSHIP, set_now
from workflow import clock
from workflow.extensions import db
from workflow.models import AuditRecord, User
from workflow.models.users import WebSession
from workflow.services import audit, users


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username, address="10.0.0.5", agent="TestBrowser/1.0"):
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token_of(page)},
        environ_base={"REMOTE_ADDR": address},
        headers={"User-Agent": agent},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    return token_of(client.get("/").get_data(as_text=True))


def cookie(client) -> str:
    return client.get_cookie("session").value


def replay(app, value: str):
    """A fresh browser holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def signed_in(client) -> bool:
    r = client.get("/cases")
    assert r.status_code in (200, 302)
    return r.status_code == 200


def rows(username=None) -> list[WebSession]:
    db.session.commit()
    query = select(WebSession).order_by(WebSession.id)
    if username:
        query = query.where(WebSession.user_id == user_named(username).id)
    return list(db.session.scalars(query))


def user_named(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def audit_triggers() -> list[tuple[str, str]]:
    db.session.commit()
    return [
        (r.trigger, r.actor_username)
        for r in db.session.scalars(select(AuditRecord).order_by(AuditRecord.id))
    ]


def test_the_cookie_carries_only_a_session_id_and_the_csrf_token(client, world, app):
    sign_in(client, "county1")
    data = app.session_interface.get_signing_serializer(app).loads(cookie(client))
    assert set(data) == {"sid", "csrf", "_permanent"}
    [row] = rows("county1")
    assert row.token_hash == hashlib.sha256(data["sid"].encode()).hexdigest()
    assert data["sid"] not in row.token_hash  # only the hash is stored
    assert (row.client, row.user_agent) == ("10.0.0.5", "TestBrowser/1.0")
    assert row.expires_at == clock.now() + timedelta(hours=8)


def test_logout_ends_the_session_on_the_server(client, world, app):
    csrf = sign_in(client, "county1")
    stolen = cookie(client)
    assert signed_in(replay(app, stolen))
    client.post("/logout", data={"csrf_token": csrf})
    assert not signed_in(client)
    assert not signed_in(replay(app, stolen))  # a copy of the old cookie is dead too
    [row] = rows("county1")
    assert row.ended_at == clock.now() and row.end_reason == "logout"
    assert ("logout", "county1") in audit_triggers()


def test_disabling_then_enabling_does_not_revive_old_cookies(client, world, app):
    sign_in(client, "township1")
    old = cookie(client)
    admin = world["admin"]
    users.set_active("township1", False, admin, clock.now())
    assert not signed_in(client)
    users.set_active("township1", True, admin, clock.now())
    assert not signed_in(replay(app, old))
    [row] = rows("township1")
    assert row.end_reason == "disabled"
    sign_in(client, "township1")  # a new sign-in works
    assert signed_in(client)


def test_idle_sessions_end_and_last_seen_is_written_at_most_once_a_minute(client, world):
    sign_in(client, "county1")
    start = clock.now()
    set_now("2019-10-08T09:00:40+08:00")
    assert signed_in(client)
    assert rows("county1")[0].last_seen_at == start  # no write within the minute
    set_now("2019-10-08T09:29:00+08:00")
    assert signed_in(client)
    assert rows("county1")[0].last_seen_at == clock.now()
    set_now("2019-10-08T09:58:59+08:00")  # 29:59 idle
    assert signed_in(client)
    set_now("2019-10-08T10:29:00+08:00")  # 30:01 idle
    assert not signed_in(client)


def test_the_idle_timeout_is_configurable(client, world, app):
    app.config["EXITFLOW_SESSION_IDLE_MINUTES"] = 5
    sign_in(client, "county1")
    set_now("2019-10-08T09:04:59+08:00")
    assert signed_in(client)
    set_now("2019-10-08T09:10:00+08:00")
    assert not signed_in(client)


def test_sessions_end_eight_hours_after_sign_in_however_busy(client, world):
    sign_in(client, "county1")
    start = clock.now()
    for step in range(1, 24):  # a request every 20 minutes, up to 7:40
        clock.set_fake_now(start + timedelta(minutes=20 * step))
        assert signed_in(client), step
    clock.set_fake_now(start + timedelta(hours=8))
    assert not signed_in(client)


def test_signing_in_again_replaces_the_browsers_session(client, world, app):
    sign_in(client, "county1")
    first = cookie(client)
    sign_in(client, "county1")
    assert not signed_in(replay(app, first))
    assert [r.end_reason for r in rows("county1")] == ["replaced", None]


def test_admin_lists_live_sessions_and_ends_them(client, world, app):
    phone = app.test_client()
    sign_in(phone, "village1", address="10.0.0.7", agent="PhoneBrowser/2.0")
    laptop = app.test_client()
    sign_in(laptop, "county1", address="10.0.0.8")
    tablet = app.test_client()
    sign_in(tablet, "county1", address="10.0.0.9")
    token = laptop.post(
        "/api/v1/auth/token", json={"username": "county1", "password": PASSWORD}
    ).get_json()["token"]
    csrf = sign_in(client, "admin")
    page = client.get("/admin").get_data(as_text=True)
    sessions = page[page.index("在线会话") : page.index("登录锁定")]
    assert "10.0.0.7" in sessions and "PhoneBrowser/2.0" in sessions and "village1" in sessions
    assert "2019-10-08 09:00" in sessions  # when (local time)
    [village_row] = rows("village1")
    r = client.post(
        f"/admin/sessions/{village_row.id}/end", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert f"已结束会话 #{village_row.id}" in r.get_data(as_text=True)
    assert not signed_in(phone) and signed_in(laptop)
    assert "10.0.0.7" not in client.get("/admin").get_data(as_text=True)
    # Everywhere at once: both browsers and the API token.
    r = client.post(
        "/admin/users/county1/sessions/end", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "已结束用户 county1 的 2 个会话,吊销 1 个令牌" in r.get_data(as_text=True)
    assert not signed_in(laptop) and not signed_in(tablet)
    assert client.get(
        "/api/v1/cases", headers={"Authorization": f"Bearer {token}"}
    ).status_code == (401)
    assert [t for t in audit_triggers() if t[0] == "session_ended"] == [
        ("session_ended", "admin"),
        ("session_ended", "admin"),
    ]
    # An ended session cannot be ended twice; the admin is told so.
    r = client.post(
        f"/admin/sessions/{village_row.id}/end", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "会话不存在或已结束" in r.get_data(as_text=True)


def test_password_reset_and_role_change_end_sessions_and_tokens(client, world, app):
    victim = app.test_client()
    sign_in(victim, "township1")
    token = victim.post(
        "/api/v1/auth/token", json={"username": "township1", "password": PASSWORD}
    ).get_json()["token"]
    csrf = sign_in(client, "admin")
    weak = client.post(
        "/admin/password",
        data={"csrf_token": csrf, "username": "township1", "password": "short"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "密码至少10位" in weak and signed_in(victim)  # refused: nothing ended
    r = client.post(
        "/admin/password",
        data={"csrf_token": csrf, "username": "township1", "password": "New-password-2019"},
        follow_redirects=True,
    )
    assert "township1 的密码已重置" in r.get_data(as_text=True)
    assert not signed_in(victim)
    assert victim.get(
        "/api/v1/cases", headers={"Authorization": f"Bearer {token}"}
    ).status_code == (401)
    assert rows("township1")[0].end_reason == "password"
    # Role and region: township2 becomes a village clerk; its session ends.
    sign_in(victim, "township2")
    bad = client.post(
        "/admin/role",
        data={
            "csrf_token": csrf,
            "username": "township2",
            "role": "village",
            "region_code": TOWNSHIP,
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "角色或地区有误" in bad and signed_in(victim)  # a village user needs a village
    r = client.post(
        "/admin/role",
        data={
            "csrf_token": csrf,
            "username": "township2",
            "role": "village",
            "region_code": "430623100201",
        },
        follow_redirects=True,
    )
    assert "township2 的角色和地区已更新" in r.get_data(as_text=True)
    assert not signed_in(victim)
    assert rows("township2")[0].end_reason == "role"
    changed = user_named("township2")
    assert (changed.role, changed.region_code) == ("village", "430623100201")
    triggers = audit_triggers()
    assert ("password_reset", "admin") in triggers and ("role_changed", "admin") in triggers
    assert audit.verify(full=True).ok


def test_the_admin_cannot_lock_itself_out(client, world):
    csrf = sign_in(client, "admin")
    r = client.post("/admin/users/admin/disable", data={"csrf_token": csrf}, follow_redirects=True)
    assert "不能停用自己的账户" in r.get_data(as_text=True)
    r = client.post(
        "/admin/role",
        data={"csrf_token": csrf, "username": "admin", "role": "auditor", "region_code": ""},
        follow_redirects=True,
    )
    assert "不能修改自己的角色或地区" in r.get_data(as_text=True)
    assert client.get("/admin").status_code == 200  # still signed in, still admin


def test_changing_ones_own_password_keeps_this_session_only(client, world, app):
    sign_in(client, "county1")
    other = app.test_client()
    sign_in(other, "county1")
    keep = rows("county1")[0].id
    user = user_named("county1")
    users.change_password(user.id, PASSWORD, "Another-password-2019", clock.now(), keep)
    assert signed_in(client) and not signed_in(other)
    assert ("password_changed", "county1") in audit_triggers()


def test_the_scheduler_purges_spent_sessions_locks_and_counters(client, world, app):
    from workflow import scheduler
    from workflow.errors import Unauthenticated
    from workflow.models.users import LoginLock, RateCounter

    sign_in(client, "county1")
    for _ in range(5):
        try:
            users.authenticate("village1", "Wrong-password-1", clock.now(), client="10.0.9.9")
        except Unauthenticated:
            pass
    db.session.commit()
    assert db.session.query(LoginLock).count() == 1
    assert db.session.query(RateCounter).count() >= 2  # the account's, the login throttle's
    set_now("2019-10-16T09:00:00+08:00")  # 8 days on
    fresh = app.test_client()
    sign_in(fresh, "county2")
    db.session.commit()
    result = scheduler.purge(app)
    assert result["sessions"] == 1 and result["locks"] == 1 and result["counters"] >= 2
    assert [r.user_id for r in rows()] == [user_named("county2").id]
    assert signed_in(fresh)
