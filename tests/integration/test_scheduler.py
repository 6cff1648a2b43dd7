"""The scheduler: windows close on time with real timers, catch-up, one lock, overdue steps."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import APPRAISAL, SURVEY, VILLAGE, add_household, set_now
from workflow import clock, scheduler
from workflow.extensions import db
from workflow.models import AuditRecord, Case, Digest, PublicityWindow
from workflow.services import cases, deadlines, publicity, transitions
from workflow.services import sweep as sweeping


def post_window(world, n=3, hour=9):
    now = set_now(f"2019-10-21T{hour:02d}:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"]) for _ in range(n)], 2019, now
    )
    for trigger, payload in [("submit_survey", SURVEY), ("appraise", APPRAISAL)]:
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "村委会"}, None, now
    )
    return window, ids


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def window_closed(app, window_id):
    with app.app_context():
        try:
            return db.session.get(PublicityWindow, window_id).closed_at is not None
        finally:
            db.session.remove()


def test_running_scheduler_closes_on_time_never_early(app, world):
    window, ids = post_window(world)
    closes_at, window_id = window.closes_at, window.id
    db.session.commit()  # SQLite: a reading transaction holds the write lock; end it
    app.config["EXITFLOW_SWEEP_SECONDS"] = 0.2
    clock.set_fake_now(closes_at - timedelta(seconds=1))
    running = scheduler.start_embedded(app)
    assert running is not None
    try:
        time.sleep(0.8)  # four sweeps, all a second before the closing time
        assert not window_closed(app, window_id)
        clock.set_fake_now(closes_at)
        assert wait_for(lambda: window_closed(app, window_id))
    finally:
        scheduler.stop(running)
    db.session.expire_all()
    assert {db.session.get(Case, i).state for i in ids} == {"township_verification"}


def test_restart_across_closing_time_catches_up_once(app, world, caplog):
    post_window(world, 2, hour=9)
    second, _ = post_window(world, 2, hour=10)
    later = second.closes_at + timedelta(days=2)
    db.session.commit()  # SQLite: a reading transaction holds the write lock; end it
    clock.set_fake_now(later)
    with caplog.at_level(logging.INFO, logger="workflow.scheduler"):
        result = scheduler.catch_up(app)
    assert (result["closed"], result["cases_advanced"]) == (2, 4)
    assert "start-up catch-up: 2 due window(s) closed" in caplog.text
    assert scheduler.catch_up(app)["closed"] == 0
    closes = db.session.scalars(
        select(AuditRecord).where(AuditRecord.trigger == "close_window").order_by(AuditRecord.seq)
    ).all()
    assert len(closes) == 4
    assert [r.data_json for r in closes][0] != [r.data_json for r in closes][-1]


def test_only_one_scheduler_holds_the_lock(app):
    assert scheduler.acquire_lock(app)
    try:
        assert not scheduler.acquire_lock(app)
        assert scheduler.start_embedded(app) is None
    finally:
        scheduler.release_lock()
    assert scheduler.acquire_lock(app)
    scheduler.release_lock()


def test_concurrent_sweeps_close_each_window_once(app, world):
    windows = [post_window(world, 3, hour=h)[0] for h in (8, 9, 10, 11)]
    now = max(w.closes_at for w in windows) + timedelta(hours=1)
    db.session.commit()
    results = []

    def sweep():
        with app.app_context():
            try:
                results.append(publicity.sweep(now))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["closed"] for r in results) == 4
    assert sum(r["cases_advanced"] for r in results) == 12
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.trigger == "close_window")
        )
        == 12
    )


def test_one_bad_window_does_not_stop_the_others(app, world, monkeypatch):
    bad, _ = post_window(world, 2, hour=8)
    good, good_ids = post_window(world, 2, hour=9)
    db.session.commit()
    bad_id = bad.id
    real = sweeping._closing

    def flaky(window):
        if window.id == bad_id:
            raise RuntimeError("disk on fire")
        return real(window)

    monkeypatch.setattr(sweeping, "_closing", flaky)
    result = publicity.sweep(good.closes_at + timedelta(minutes=1))
    assert result["closed"] == 1 and [e["window_id"] for e in result["errors"]] == [bad_id]
    db.session.expire_all()
    assert {db.session.get(Case, i).state for i in good_ids} == {"township_verification"}


def test_overdue_steps_are_flagged_listed_and_cleared(app, world, client):
    now = set_now("2019-10-08T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"]) for _ in range(2)], 2019, now
    )
    db.session.commit()
    case = db.session.get(Case, ids[0])
    # Survey: 30 days, civil_code, from Tuesday 8 Oct 2019: Thursday 7 Nov, 24:00.
    assert case.deadline_at.isoformat() == "2019-11-07T16:00:00+00:00"
    assert deadlines.mark_overdue(case.deadline_at - timedelta(seconds=1)) == 0
    assert deadlines.mark_overdue(case.deadline_at) == 2
    set_now("2019-11-08T09:00:00+08:00")
    token = client.post(
        "/api/v1/auth/token", json={"username": "township1", "password": "Test-password-2019"}
    )
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    listed = client.get("/api/v1/cases?overdue=true", headers=headers).get_json()
    assert sorted(i["id"] for i in listed["items"]) == ids
    transitions.fire_one(
        "submit_survey",
        ids[0],
        world["village1"],
        {**SURVEY, "surveyed_on": "2019-11-07"},
        clock.now(),
    )
    db.session.commit()
    db.session.expire_all()
    moved = db.session.get(Case, ids[0])
    assert moved.overdue is False and moved.deadline_at > clock.now()
    listed = client.get("/api/v1/cases?overdue=true", headers=headers).get_json()
    assert [i["id"] for i in listed["items"]] == [ids[1]]
    assert deadlines.make_digests(clock.now()) == 2  # the township and the county
    assert deadlines.make_digests(clock.now()) == 0  # one a day
    digest = db.session.scalar(select(Digest).where(Digest.region_code == "430623100000"))
    assert digest.overdue == 1 and digest.content["by_state"] == {"planned": 1}


def test_status_reports_runs_next_window_and_missing_holiday_data(app, world, runner):
    window, _ = post_window(world, 1)
    code = window.code
    db.session.commit()
    scheduler.tick(app)
    out = runner.invoke(args=["scheduler", "--status"]).output
    assert "last sweep" in out and code in out and "overdue cases: 0" in out
    clock.set_fake_now(clock.parse_aware("2026-12-01T09:00:00+08:00"))
    out = runner.invoke(args=["scheduler", "--status"]).output
    assert "problem:" in out and "2027" in out


@pytest.mark.parametrize("opened", ["2026-12-28T10:00:00+08:00"])
def test_a_deadline_into_a_year_without_data_is_not_guessed(app, world, opened):
    now = set_now(opened)
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"])], 2026, now
    )
    db.session.commit()
    assert db.session.get(Case, ids[0]).deadline_at is None
