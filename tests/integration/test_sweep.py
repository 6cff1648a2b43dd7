"""The sweep closes many windows per transaction: counties, bad windows, objections, chunks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from tests.factories import APPRAISAL, PASSWORD, SURVEY, VILLAGE, VILLAGE2, add_household, set_now
from workflow.extensions import db
from workflow.models import AuditRecord, Case, CaseData, Objection, PublicityWindow
from workflow.services import audit, cases, publicity, regions, transitions, users
from workflow.services import sweep as sweeping
from workflow.services.actors import from_user

OTHER_COUNTY, OTHER_TOWNSHIP, FAR_VILLAGE = "430624", "430624100000", "430624100201"


@pytest.fixture
def far(world):
    """A second county with a village, its clerk and a township user."""
    regions.add_many(
        [
            dict(
                code=OTHER_COUNTY, name="南县", level="county", parent_code="430600", is_poor=True
            ),
            dict(code=OTHER_TOWNSHIP, name="南洲镇", level="township", parent_code=OTHER_COUNTY),
            dict(
                code=FAR_VILLAGE,
                name="南洲村",
                level="village",
                parent_code=OTHER_TOWNSHIP,
                rural_population=700,
                is_poor=True,
            ),
        ]
    )
    actors = {}
    for name, role, region in (
        ("far_village", "village", FAR_VILLAGE),
        ("far_town", "township", OTHER_TOWNSHIP),
    ):
        user = users.create(
            name,
            PASSWORD,
            role,
            region,
            f"{name}的名字",
            set_now("2019-10-08T09:00:00+08:00"),
            commit=False,
        )
        db.session.flush()
        actors[name] = from_user(user)
    db.session.commit()
    world.actors.update(actors)
    return world


def post(world, n, clerk="village1", township="township1", village=VILLAGE, minute=0):
    """A village window listing n appraised cases, posted on 21 Oct 2019 at 09:mm."""
    now = set_now(f"2019-10-21T09:{minute:02d}:00+08:00")
    ids = cases.open_household_cases(
        world[township], [add_household(world[clerk], village) for _ in range(n)], 2019, now
    )
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        assert not transitions.fire_many(trigger, ids, world[clerk], payload, now).failed
    db.session.commit()
    window = publicity.post(
        world[clerk], village, ids, {"phone": "1", "address": "村委会"}, None, now
    )
    closes_at = window.closes_at
    window_id = window.id
    db.session.commit()
    return window_id, closes_at, ids


def states(ids):
    db.session.expire_all()
    return {db.session.get(Case, i).state for i in ids}


def closes(case_ids):
    """The close_window audit records of the cases: {case id: (chain, data)}."""
    return {
        r.case_id: (r.chain, json.loads(r.data_json))
        for r in db.session.scalars(
            select(AuditRecord).where(
                AuditRecord.trigger == "close_window", AuditRecord.case_id.in_(case_ids)
            )
        )
    }


class Statements:
    """Counts the statements sent to the database."""

    def __init__(self):
        self.n = 0

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self.count)
        return self

    def count(self, *_args, **_kwargs):
        self.n += 1

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self.count)


def test_one_sweep_closes_windows_of_several_counties_at_once(app, far):
    first, closes_at, first_ids = post(far, 3)
    second, _, second_ids = post(far, 2, clerk="village2", village=VILLAGE2)
    third, _, third_ids = post(far, 4, "far_village", "far_town", FAR_VILLAGE)
    now = closes_at + timedelta(minutes=5)
    again = db.session.get(CaseData, first_ids[0])  # listed again after an upheld objection
    again.data = {**again.data, "verification_round": 2}
    db.session.commit()
    with Statements() as statements:
        result = publicity.sweep(now)
    assert result == {"due": 3, "closed": 3, "cases_advanced": 9, "errors": []}
    # One transaction for the three windows: a handful of statements, none per window
    # or per case (two more per county on PostgreSQL, for its audit chain's lock).
    assert statements.n <= 20
    assert states(first_ids + second_ids + third_ids) == {"township_verification"}
    for window_id in (first, second, third):
        window = db.session.get(PublicityWindow, window_id)
        assert window.closed_at == now and window.version == 2
    records = closes(first_ids + second_ids + third_ids)
    assert records == {
        **{i: ("430623", {"window_id": first}) for i in first_ids},
        **{i: ("430623", {"window_id": second}) for i in second_ids},
        **{i: (OTHER_COUNTY, {"window_id": third}) for i in third_ids},
    }
    # Each closed village window opens a new verification round; the rest of the data stays.
    assert {db.session.get(Case, i).data["verification_round"] for i in third_ids} == {1}
    assert db.session.get(Case, first_ids[0]).data["verification_round"] == 3
    assert {db.session.get(Case, i).data["survey"]["income_per_capita"] for i in first_ids} == {
        SURVEY["income_per_capita"]
    }
    assert {db.session.get(Case, i).version for i in first_ids} == {5}
    assert audit.verify().ok
    assert publicity.sweep(now + timedelta(days=1))["closed"] == 0  # idempotent
    assert len(closes(first_ids + second_ids + third_ids)) == 9


def test_statements_do_not_grow_with_the_windows(app, world):
    one, closes_at, _ = post(world, 2)
    with Statements() as alone:
        assert publicity.sweep(closes_at + timedelta(hours=1))["closed"] == 1
    later = [post(world, 2, minute=m) for m in (1, 2, 3, 4)]
    with Statements() as together:
        result = publicity.sweep(later[-1][1] + timedelta(hours=1))
    assert (result["closed"], result["cases_advanced"]) == (4, 8)
    assert together.n == alone.n


def _raise_for(bad_id):
    real = sweeping._closing

    def closing(window):
        if window.id == bad_id:
            raise RuntimeError("disk on fire")
        return real(window)

    return closing


def _move_version_of(bad_id):
    real = sweeping._closing

    def closing(window):
        if window.id == bad_id:  # another writer got in: the close must not overwrite it
            db.session.execute(
                update(PublicityWindow)
                .where(PublicityWindow.id == bad_id)
                .values(version=PublicityWindow.version + 1)
            )
        return real(window)

    return closing


@pytest.mark.parametrize("failure", ["raises", "unknown_kind", "version_moved"])
def test_a_window_that_fails_does_not_block_the_others_in_its_chunk(
    app, world, monkeypatch, failure
):
    posted = [post(world, 2, minute=m) for m in range(5)]
    bad, closes_at, bad_ids = posted[2]
    if failure == "raises":
        monkeypatch.setattr(sweeping, "_closing", _raise_for(bad))
    elif failure == "unknown_kind":
        db.session.execute(
            update(PublicityWindow).where(PublicityWindow.id == bad).values(kind="no_such_kind")
        )
        db.session.commit()
    else:
        monkeypatch.setattr(sweeping, "_closing", _move_version_of(bad))
    assert sweeping._chunks(sweeping._due(posted[-1][1])) == [[w for w, _, _ in posted]]
    db.session.rollback()
    result = publicity.sweep(posted[-1][1] + timedelta(minutes=1))
    assert (result["closed"], result["cases_advanced"]) == (4, 8)
    assert [e["window_id"] for e in result["errors"]] == [bad]
    good_ids = [i for w, _, ids in posted if w != bad for i in ids]
    assert states(good_ids) == {"township_verification"}
    assert states(bad_ids) == {"village_publicity"}
    assert db.session.get(PublicityWindow, bad).closed_at is None
    assert set(closes(good_ids + bad_ids)) == set(good_ids)
    assert audit.verify().ok
    if failure == "raises":  # mended, the next sweep catches up with it
        monkeypatch.undo()
        result = publicity.sweep(posted[-1][1] + timedelta(minutes=2))
        assert (result["closed"], result["cases_advanced"], result["errors"]) == (1, 2, [])
        assert states(bad_ids) == {"township_verification"}


def test_a_case_under_objection_stays_frozen(app, world):
    window_id, closes_at, ids = post(world, 3)
    other, _, other_ids = post(world, 2, clerk="village2", village=VILLAGE2, minute=1)
    objection = publicity.lodge_objection(
        window_id,
        ids[0],
        "收入情况不实,请核查",
        "13800138000",
        closes_at - timedelta(hours=1),
        name="韦某某",
    )
    frozen_version = db.session.get(Case, ids[0]).version
    result = publicity.sweep(closes_at + timedelta(minutes=1))
    assert (result["closed"], result["cases_advanced"]) == (2, 4)
    assert states([ids[0]]) == {"objection_review"}
    assert db.session.get(Case, ids[0]).version == frozen_version
    assert states(ids[1:] + other_ids) == {"township_verification"}
    assert set(closes(ids + other_ids)) == set(ids[1:] + other_ids)
    assert db.session.get(Objection, objection.id).status == "open"
    # Resolved after the close, the objection lets the case go on where the window led.
    state, _ = transitions.fire_one(
        "dismiss_objection",
        ids[0],
        world["township1"],
        {"objection_id": objection.id, "finding": "经核查,收入达标"},
        closes_at + timedelta(hours=2),
    )
    db.session.commit()
    assert state == "township_verification"
    assert publicity.sweep(closes_at + timedelta(days=1))["closed"] == 0


def test_chunks_split_by_cases_and_close_only_what_is_due(app, world, monkeypatch):
    monkeypatch.setattr(sweeping, "CHUNK_CASES", 5)
    posted = [post(world, n, minute=m) for m, n in enumerate((3, 2, 4, 1, 6))]
    assert sweeping._chunks(sweeping._due(posted[-1][1])) == [
        [posted[0][0], posted[1][0]],
        [posted[2][0], posted[3][0]],
        [posted[4][0]],
    ]
    db.session.rollback()
    # Each window closes at 24:00 of its last day: a microsecond before, none is due.
    closes_at = posted[0][1]
    assert {c for _, c, _ in posted} == {closes_at}
    assert publicity.sweep(closes_at - timedelta(microseconds=1))["closed"] == 0
    assert publicity.close_window(posted[0][0], closes_at - timedelta(microseconds=1)) is None
    assert states([i for _, _, ids in posted for i in ids]) == {"village_publicity"}
    result = publicity.sweep(closes_at)
    assert (result["closed"], result["cases_advanced"], result["errors"]) == (5, 16, [])
    assert states([i for _, _, ids in posted for i in ids]) == {"township_verification"}
    assert publicity.close_window(posted[0][0], closes_at) is None  # already closed
    assert audit.verify().ok
