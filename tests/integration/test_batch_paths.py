"""The set-based paths of a batch give what the row-by-row ones gave (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.factories import APPRAISAL, SURVEY, VILLAGE, VILLAGE2, add_household, set_now
from workflow.extensions import db
from workflow.models import AuditRecord, Case, CaseData, Region, SignOff
from workflow.services import cases, effects, notices, publicity, transitions
from workflow.services.deadlines import deadline_for


def open_cases(world, n, village=VILLAGE):
    now = set_now("2019-10-16T09:00:00+08:00")
    clerk = world["village1"] if village == VILLAGE else world["village2"]
    ids = cases.open_household_cases(
        world["township1"], [add_household(clerk, village) for _ in range(n)], 2019, now
    )
    db.session.commit()
    return ids


def set_data(case_id: int, data) -> None:
    db.session.execute(update(CaseData).where(CaseData.case_id == case_id).values(data=data))
    db.session.commit()


def stored(case_id: int):
    db.session.expire_all()
    return db.session.get(CaseData, case_id).data


def projected(data, paths) -> dict:
    """What the paths select from a whole document: the values there (JSON null too)."""
    out: dict = {}
    for path in paths:
        node = data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            target = out
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = node
    return out


@pytest.mark.parametrize("trigger", ["verify", "appraise"])
def test_data_loaded_in_part_is_the_whole_document_projected(world, trigger):
    ids = open_cases(world, 5)
    documents = [
        {
            "survey": {
                "by_id": 7,
                "surveyors": ["韦组长", "覃队员"],
                "income_per_capita": 5000,
                "judgement": {
                    "met": False,
                    "income_met": True,
                    "income_per_capita": 5000.0,
                    "poverty_line": 3218.0,
                    "indicators": {"food": {"met": False, "label": "吃不愁", "reason": "x"}},
                },
            },
            "appraisal": {"by_id": 9, "at": "2019-10-20"},
            "verification_round": 2,
            "other": {"kept": True},
        },
        {"survey": {"by_id": None, "surveyors": None, "judgement": None}, "appraisal": None},
        {"survey": "not an object", "verification_round": None},
        {},
        None,
    ]
    for case_id, data in zip(ids, documents, strict=True):
        set_data(case_id, data)
    paths = effects.data_paths(trigger)
    whole = transitions.load_rows(ids, with_data=True)
    part = transitions.load_rows(ids, with_data=True, paths=paths)
    for case_id in ids:
        assert part[case_id].data == projected(whole[case_id].data, paths), case_id
        assert part[case_id][:-1] == whole[case_id][:-1]


def test_appraisal_is_written_in_place_and_the_rest_kept(world):
    ids = open_cases(world, 55)  # one shared value: one statement for 50 or more cases
    now = set_now("2019-10-21T09:00:00+08:00")
    outcome = transitions.fire_many("submit_survey", ids, world["village1"], SURVEY, now)
    assert outcome.succeeded == ids
    db.session.commit()
    set_data(ids[0], {**stored(ids[0]), "note": {"kept": ["x", 1]}})
    before = {i: stored(i) for i in ids}
    outcome = transitions.fire_many("appraise", ids, world["village1"], APPRAISAL, now)
    assert outcome.succeeded == ids
    db.session.commit()
    stamp = {
        "by": "village1",
        "by_id": world["village1"].id,
        "by_name": world["village1"].display_name,
        "at": now.isoformat(),
    }
    for case_id in ids:
        assert stored(case_id) == {**before[case_id], "appraisal": {**APPRAISAL, **stamp}}
    assert stored(ids[0])["note"] == {"kept": ["x", 1]}


def test_surveys_that_differ_per_case_are_each_written(world):
    ids = open_cases(world, 4)
    now = set_now("2019-10-21T09:00:00+08:00")
    set_data(ids[1], {"earlier": 1})
    payloads = {cid: {**SURVEY, "income_per_capita": 4000.0 + k} for k, cid in enumerate(ids)}
    outcome = transitions.fire_many(
        "submit_survey", ids, world["village1"], {}, now, payloads=payloads
    )
    assert outcome.succeeded == ids
    db.session.commit()
    for k, case_id in enumerate(ids):
        data = stored(case_id)
        assert data["survey"]["income_per_capita"] == 4000.0 + k
        assert data["survey"]["judgement"]["income_per_capita"] == 4000.0 + k
        assert data["survey"]["surveyors"] == SURVEY["surveyors"]
    assert stored(ids[1])["earlier"] == 1


def test_a_step_writing_a_key_it_may_not_is_refused(world, monkeypatch):
    ids = open_cases(world, 2)
    now = set_now("2019-10-21T09:00:00+08:00")
    transitions.fire_many("submit_survey", ids, world["village1"], SURVEY, now)
    db.session.commit()
    before = {i: stored(i) for i in ids}
    prepare = effects.prepare

    def meddling(trigger, row, firing, actor, when):
        prepare(trigger, row, firing, actor, when)
        firing.case_data["verification_round"] = 5  # not a key appraise sets

    monkeypatch.setattr(effects, "prepare", meddling)
    with pytest.raises(RuntimeError, match="may not write"):
        transitions.fire_many("appraise", ids, world["village1"], APPRAISAL, now)
    db.session.rollback()
    assert {i: stored(i) for i in ids} == before


def test_rows_a_caller_loaded_without_data_are_read_again_with_it(world):
    ids = open_cases(world, 3)
    now = set_now("2019-10-21T09:00:00+08:00")
    transitions.fire_many("submit_survey", ids, world["village1"], SURVEY, now)
    db.session.commit()
    rows = transitions.load_rows(ids)
    outcome = transitions.fire_many("appraise", ids, world["village1"], APPRAISAL, now, rows=rows)
    assert outcome.succeeded == ids, outcome.failed
    db.session.commit()
    assert all("survey" in stored(i) and "appraisal" in stored(i) for i in ids)


def to_verification(world, ids):
    now = set_now("2019-10-21T09:00:00+08:00")
    for trigger, payload in [("submit_survey", SURVEY), ("appraise", APPRAISAL)]:
        assert transitions.fire_many(trigger, ids, world["village1"], payload, now).succeeded
        db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "村委会"}, None, now
    )
    publicity.sweep(window.closes_at)
    return window.closes_at + timedelta(days=1)


@pytest.mark.parametrize("n", [3, 25])  # row by row, and one INSERT … SELECT
def test_signoffs_of_a_batch_are_numbered_in_its_order(world, n):
    ids = open_cases(world, n)
    now = to_verification(world, ids)
    order = ids[::2] + ids[1::2]  # not the order of the ids
    day = (now - timedelta(days=1)).date()
    visit = {"result": "pass", "visited_on": day.isoformat(), "notes": "入户"}
    for name in ("township1", "township2"):
        outcome = transitions.fire_many("verify", order, world[name], visit, now)
        assert outcome.succeeded == order
        db.session.commit()
    rows = db.session.scalars(select(SignOff).order_by(SignOff.id)).all()
    assert [s.case_id for s in rows] == order + order
    assert {(s.step, s.round, s.result, s.visited_on, s.notes) for s in rows} == {
        ("verify", 1, "pass", day, "入户")
    }
    assert [s.signer_name for s in rows] == ["township1的名字"] * n + ["township2的名字"] * n
    assert all(s.signed_at == now for s in rows)
    outcome = transitions.fire_many("verify", order, world["township3"], visit, now)
    assert set(outcome.states.values()) == {"verified"}


def test_cases_opened_across_rule_sets(world):
    db.session.execute(update(Region).where(Region.code == VILLAGE2).values(rule_set="guangxi"))
    db.session.commit()
    households = [add_household(world["village1"], VILLAGE) for _ in range(3)] + [
        add_household(world["village2"], VILLAGE2) for _ in range(2)
    ]
    households = [households[4], households[0], households[3], households[2], households[1]]
    now = set_now("2019-10-16T09:00:00+08:00")
    ids = cases.open_household_cases(world["township1"], households, 2019, now)
    db.session.commit()
    assert ids == sorted(ids)  # numbered in the order the households were given
    rows = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}
    for case_id, household_id in zip(ids, households, strict=True):
        case = rows[case_id]
        assert case.household_id == household_id
        assert case.rule_set == ("guangxi" if case.village_code == VILLAGE2 else "national")
        assert case.deadline_at == deadline_for("household_exit", "planned", case.rule_set, now)
        assert (case.state, case.version, case.overdue) == ("planned", 1, False)
        assert stored(case_id) == {}
    created = db.session.scalars(
        select(AuditRecord).where(AuditRecord.trigger == "create").order_by(AuditRecord.seq)
    ).all()
    assert [(r.case_id, r.to_state) for r in created] == [(i, "planned") for i in ids]


def test_cases_of_one_rule_set_are_numbered_in_the_order_given(world):
    households = [add_household(world["village1"], VILLAGE) for _ in range(4)][::-1]
    now = set_now("2019-10-16T09:00:00+08:00")
    ids = cases.open_household_cases(world["township1"], households, 2019, now)
    db.session.commit()
    assert ids == sorted(ids)
    assert [db.session.get(Case, i).household_id for i in ids] == households
    assert all(db.session.get(Case, i).created_at == now for i in ids)


def test_window_notice_income_comes_from_the_survey(world):
    ids = open_cases(world, 3)
    now = set_now("2019-10-21T09:00:00+08:00")
    payloads = {cid: {**SURVEY, "income_per_capita": 4000.0 + k} for k, cid in enumerate(ids)}
    transitions.fire_many("submit_survey", ids, world["village1"], {}, now, payloads=payloads)
    transitions.fire_many("appraise", ids, world["village1"], APPRAISAL, now)
    db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "村委会"}, None, now
    )
    data = stored(ids[1])
    data["survey"].pop("income_per_capita")
    set_data(ids[1], data)
    set_data(
        ids[2],
        {**stored(ids[2]), "survey": {**stored(ids[2])["survey"], "income_per_capita": 5000}},
    )
    rows = notices.window_context(window)["rows"]
    assert [r["income"] for r in rows] == [4000.0, "", 5000]
    assert isinstance(rows[2]["income"], int)
