"""The services on SQLite and PostgreSQL: audit chain, separation of duties, windows, batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import tamper
from tests.factories import APPRAISAL, SURVEY, TOWNSHIP, VILLAGE, add_household, set_now
from workflow.errors import NotFound, TransitionNotAllowed
from workflow.extensions import db
from workflow.models import AuditRecord, Case, Objection, SignOff
from workflow.services import audit, cases, publicity, transitions


def open_cases(world, n=1, village=VILLAGE):
    now = set_now("2019-10-16T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"],
        [
            add_household(
                world["village1"] if village == VILLAGE else world["village_other"], village
            )
            for _ in range(n)
        ],
        2019,
        now,
    )
    db.session.commit()
    return ids


def to_publicity(world, ids):
    now = set_now("2019-10-21T09:00:00+08:00")
    for trigger, payload in [("submit_survey", SURVEY), ("appraise", APPRAISAL)]:
        outcome = transitions.fire_many(trigger, ids, world["village1"], payload, now)
        assert outcome.succeeded == ids, outcome.failed
        db.session.commit()
    return publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "村委会"}, None, now
    )


def to_verification(world, ids):
    window = to_publicity(world, ids)
    publicity.sweep(window.closes_at + timedelta(seconds=0))
    return window


def test_audit_records_cannot_be_changed_through_the_application(world):
    ids = open_cases(world, 1)
    for sql in (
        "UPDATE audit_records SET trigger='x' WHERE seq=1",
        "DELETE FROM audit_records WHERE seq=1",
    ):
        with pytest.raises(DBAPIError):
            db.session.execute(text(sql))
        db.session.rollback()
    assert audit.verify().ok and audit.count() == len(ids)


def test_audit_chain_detects_alteration_and_deletion(world):
    ids = open_cases(world, 3)
    to_publicity(world, ids)
    assert audit.verify().ok
    n = audit.count()
    assert n == 3 * 4  # create, survey, appraise, publicize
    tamper("UPDATE audit_records SET actor_username='someone' WHERE seq=5")
    assert (
        audit.verify().ok
    )  # incremental: the records before the last verification are not re-read
    result = audit.verify(full=True)
    assert not result.ok and result.seq == 5 and "altered" in result.problem


def test_audit_chain_detects_deleting_the_newest_record(world):
    ids = open_cases(world, 2)
    to_publicity(world, ids)
    last = db.session.scalar(select(func.max(AuditRecord.seq)))
    tamper("DELETE FROM audit_records WHERE seq=:s", {"s": last})
    result = audit.verify()
    assert not result.ok and "missing" in result.problem


def test_audit_chain_detects_a_gap(world):
    ids = open_cases(world, 2)
    to_publicity(world, ids)
    tamper("DELETE FROM audit_records WHERE seq=3")
    result = audit.verify()
    assert not result.ok and result.seq == 3


def test_window_never_closes_a_second_early(world):
    ids = open_cases(world, 2)
    window = to_publicity(world, ids)
    assert publicity.sweep(window.closes_at - timedelta(microseconds=1))["closed"] == 0
    assert {db.session.get(Case, i).state for i in ids} == {"village_publicity"}
    assert publicity.sweep(window.closes_at)["closed"] == 1
    db.session.expire_all()
    assert {db.session.get(Case, i).state for i in ids} == {"township_verification"}
    assert publicity.sweep(window.closes_at + timedelta(days=3))["closed"] == 0


def test_objection_after_closing_is_refused_and_before_is_kept(world):
    ids = open_cases(world, 2)
    window = to_publicity(world, ids)
    objection = publicity.lodge_objection(
        window.id,
        ids[0],
        "收入情况不实,请核查",
        "13800138000",
        window.closes_at - timedelta(seconds=1),
        name="韦某某",
    )
    with pytest.raises(Exception) as err:
        publicity.lodge_objection(
            window.id, ids[1], "公示期后的异议内容", "13800138000", window.closes_at, name="韦某某"
        )
    assert "公示期已结束" in str(err.value)
    publicity.sweep(window.closes_at)
    db.session.expire_all()
    # The case under objection does not advance with the window; the other does.
    assert db.session.get(Case, ids[0]).state == "objection_review"
    assert db.session.get(Case, ids[1]).state == "township_verification"
    assert db.session.get(Objection, objection.id).status == "open"
    state, _ = transitions.fire_one(
        "dismiss_objection",
        ids[0],
        world["township1"],
        {"objection_id": objection.id, "finding": "经核查,收入达标"},
        window.closes_at + timedelta(hours=2),
    )
    db.session.commit()
    assert state == "township_verification"
    assert db.session.get(Case, ids[0]).data["verification_round"] == 1


def test_two_objections_both_must_be_resolved(world):
    ids = open_cases(world, 1)
    window = to_publicity(world, ids)
    now = window.opens_at + timedelta(days=1)
    first = publicity.lodge_objection(
        window.id, ids[0], "第一条异议内容", "红星村三组", now, name="覃某某"
    )
    second = publicity.lodge_objection(
        window.id, ids[0], "第二条异议内容", "红星村三组", now, name="覃某某"
    )
    state, _ = transitions.fire_one(
        "dismiss_objection",
        ids[0],
        world["township1"],
        {"objection_id": first.id, "finding": "不属实"},
        now,
    )
    assert state == "objection_review"
    db.session.commit()
    state, _ = transitions.fire_one(
        "dismiss_objection",
        ids[0],
        world["township1"],
        {"objection_id": second.id, "finding": "不属实"},
        now,
    )
    assert state == "village_publicity"


def test_upheld_objection_supersedes_the_others_without_losing_them(world):
    ids = open_cases(world, 1)
    window = to_publicity(world, ids)
    now = window.opens_at + timedelta(days=1)
    first = publicity.lodge_objection(
        window.id, ids[0], "第一条异议内容", "红星村三组", now, name="覃某某"
    )
    second = publicity.lodge_objection(
        window.id, ids[0], "第二条异议内容", "红星村三组", now, name="覃某某"
    )
    transitions.fire_one(
        "uphold_objection",
        ids[0],
        world["township1"],
        {"objection_id": first.id, "finding": "属实"},
        now,
    )
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Objection, second.id).status == "superseded"
    assert db.session.scalar(select(func.count()).select_from(Objection)) == 2


def test_three_distinct_verifiers_and_separation_of_duties(world):
    ids = open_cases(world, 1)
    window = to_verification(world, ids)
    now = window.closes_at + timedelta(days=1)
    visit = {"result": "pass", "visited_on": (now - timedelta(days=1)).date().isoformat()}
    for name, expected in [
        ("township1", "township_verification"),
        ("township2", "township_verification"),
        ("township3", "verified"),
    ]:
        state, _ = transitions.fire_one("verify", ids[0], world[name], visit, now)
        db.session.commit()
        assert state == expected
    signoffs = db.session.scalars(select(SignOff).where(SignOff.case_id == ids[0])).all()
    assert sorted(s.signer_name for s in signoffs) == [
        "township1的名字",
        "township2的名字",
        "township3的名字",
    ]


def test_a_failing_signoff_returns_the_case_and_starts_a_new_round(world):
    ids = open_cases(world, 1)
    window = to_verification(world, ids)
    now = window.closes_at + timedelta(days=1)
    day = (now - timedelta(days=1)).date().isoformat()
    transitions.fire_one(
        "verify", ids[0], world["township1"], {"result": "pass", "visited_on": day}, now
    )
    state, _ = transitions.fire_one(
        "verify", ids[0], world["township2"], {"result": "fail", "visited_on": day}, now
    )
    db.session.commit()
    assert state == "surveyed"


def test_county_approver_who_verified_is_refused(world):
    from workflow.services.actors import Actor

    ids = open_cases(world, 1)
    window = to_verification(world, ids)
    now = window.closes_at + timedelta(days=1)
    day = (now - timedelta(days=1)).date().isoformat()
    for name in ("township1", "township2", "township3"):
        transitions.fire_one(
            "verify", ids[0], world[name], {"result": "pass", "visited_on": day}, now
        )
        db.session.commit()
    second = publicity.post(
        world["township1"], TOWNSHIP, ids, {"phone": "1", "address": "镇"}, None, now
    )
    publicity.sweep(second.closes_at)
    t1 = world["township1"]
    # The same person, later acting for the county (a transfer), must not approve.
    approver = Actor(
        id=t1.id,
        username=t1.username,
        role="county",
        display_name="x",
        region_path=world["county1"].region_path,
    )
    with pytest.raises(TransitionNotAllowed) as err:
        transitions.fire_one("approve", ids[0], approver, {}, second.closes_at)
    assert "不能审批" in str(err.value.detail)
    state, _ = transitions.fire_one("approve", ids[0], world["county1"], {}, second.closes_at)
    assert state == "filed"


def test_case_outside_region_is_not_found(world):
    ids = open_cases(world, 1)
    with pytest.raises(NotFound):
        cases.get(world["village_other"], ids[0])
    outcome = transitions.fire_many(
        "defer", ids, world["township_other"], {"reason": "x"}, set_now("2019-10-17T09:00:00+08:00")
    )
    assert outcome.failed[0]["status"] == 404


def test_batch_of_many_cases_uses_a_handful_of_queries(world):
    from sqlalchemy import event

    ids = open_cases(world, 300)
    now = set_now("2019-10-21T09:00:00+08:00")
    statements = []

    def count(*_args, **_kwargs):
        statements.append(1)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        outcome = transitions.fire_many("submit_survey", ids, world["village1"], SURVEY, now)
        db.session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(outcome.succeeded) == 300
    assert len(statements) <= 12, len(statements)
