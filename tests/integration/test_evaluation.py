"""Evaluation at county scale: villages first, remote ones on purpose, assignment, 申诉."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import PASSWORD, VILLAGE, VILLAGE2, add_household, set_now
from workflow.errors import Conflict, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import Case, Evaluation, Finding, Household, Region
from workflow.services import appeals, cases, evaluation, regions, users
from workflow.services.actors import from_user


def filed_cases(world, village, n, actor):
    """Households whose exit the county approved (driven here straight to `filed`)."""
    now = set_now("2019-11-12T09:00:00+08:00")
    hids = [add_household(actor, village) for _ in range(n)]
    ids = cases.open_household_cases(world["township1"], hids, 2019, now)
    db.session.commit()
    # The earlier steps are tested elsewhere; here only the evaluation matters.
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    return hids


def test_two_stage_sample_with_remote_villages_is_reproducible(world):
    regions.add_many(
        [
            dict(
                code=f"4306231002{v:02d}",
                name=f"村{v}",
                level="village",
                parent_code="430623100000",
                rural_population=500,
                is_poor=v % 2 == 0,
                remote=v == 9,
            )
            for v in range(3, 10)
        ]
    )
    db.session.commit()
    for v in range(3, 10):
        filed_cases(world, f"4306231002{v:02d}", 4, world["township1"])
    ev = evaluation.create(
        world["province1"],
        "430623",
        2019,
        6,
        99,
        0,
        None,
        set_now("2019-11-20T09:00:00+08:00"),
        village_sample_size=3,
        households_per_village=2,
    )
    villages = ev.design["villages"]
    assert len(villages) == 3 and "430623100209" in villages  # the remote one, on purpose
    sample = evaluation.samples(ev)
    assert len(sample) == 6 and {s.village_code for s in sample} == set(villages)
    again = evaluation.create(
        world["province1"],
        "430623",
        2019,
        6,
        99,
        0,
        None,
        set_now("2019-11-20T09:00:00+08:00"),
        village_sample_size=3,
        households_per_village=2,
    )
    assert [s.household_id for s in evaluation.samples(again)] == [s.household_id for s in sample]


def test_evaluators_see_only_their_households_and_the_county_appeals_once(world):
    users.create(
        "evaluator2",
        PASSWORD,
        "evaluator",
        "430000",
        "评估员二",
        set_now("2019-11-12T09:00:00+08:00"),
    )
    e2 = from_user(db.session.scalar(select(users.User).where(users.User.username == "evaluator2")))
    filed_cases(world, VILLAGE, 3, world["village1"])
    filed_cases(world, VILLAGE2, 3, world["village2"])
    now = set_now("2019-11-20T09:00:00+08:00")
    ev = evaluation.create(
        world["province1"], "430623", 2019, 6, 5, 0, ["evaluator1", "evaluator2"], now
    )
    mine = evaluation.samples(ev, world["evaluator1"])
    theirs = evaluation.samples(ev, e2)
    assert len(mine) == 3 and len(theirs) == 3
    assert not {s.household_id for s in mine} & {s.household_id for s in theirs}
    try:
        evaluation.record_findings(
            world["evaluator1"],
            ev.id,
            [
                {
                    "household_id": theirs[0].household_id,
                    "meets_criteria": True,
                    "missed_poor": None,
                    "satisfied": True,
                }
            ],
            now,
        )
        raise AssertionError("an evaluator recorded a household not assigned to them")
    except NotFound:
        db.session.rollback()
    for who, rows in ((world["evaluator1"], mine), (e2, theirs)):
        evaluation.record_findings(
            who,
            ev.id,
            [
                {
                    "household_id": s.household_id,
                    "meets_criteria": s is not mine[0],
                    "missed_poor": None,
                    "satisfied": True,
                }
                for s in rows
            ],
            now,
        )
    disputed = mine[0].household_id
    appeals.appeal(world["county1"], ev.id, disputed, "该户已有稳定务工收入,证明材料附后", now)
    try:
        appeals.appeal(world["county1"], ev.id, disputed, "再次申诉", now)
        raise AssertionError("a second appeal was accepted")
    except Conflict:
        db.session.rollback()
    try:
        evaluation.close(world["province1"], ev.id, now)
        raise AssertionError("closed with an appeal open")
    except Conflict:
        db.session.rollback()
    finding = appeals.resolve(world["province1"], ev.id, disputed, True, "材料属实,改判", now)
    assert finding.meets_criteria is True and finding.appeal_status == "upheld"
    closed = evaluation.close(world["province1"], ev.id, now)
    assert closed.passed is True
    assert closed.metrics["wrong_exit_rate"]["numerator"] == 0
    info = regions.to_dict(db.session.get(Region, "430623"), with_incidence=True)
    assert info["evaluation_id"] == ev.id and info["comprehensive_incidence_rate"] is not None


# --- Closing needs every sampled household visited (issue #10) -------------------------


def token(client, username):
    r = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def named_filed_cases(world, names, village=VILLAGE):
    """Filed exits of households whose heads bear `names`; returns {household id: case id}."""
    now = set_now("2019-11-12T09:00:00+08:00")
    hids = [add_household(world["village1"], village, name=name) for name in names]
    ids = cases.open_household_cases(world["township1"], hids, 2019, now)
    db.session.commit()
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    return dict(zip(hids, ids, strict=True))


def good(s):
    """A complete, favourable finding for a sample row of the API."""
    return {
        "household_id": s["household_id"],
        "meets_criteria": True if s["registered"] else None,
        "missed_poor": None if s["registered"] else False,
        "satisfied": True,
    }


def case_states(case_ids):
    db.session.expire_all()
    return {cid: db.session.get(Case, cid).state for cid in case_ids}


def test_closing_names_the_households_not_visited_and_progress_counts_them(client, world):
    names = ["甲一", "乙二", "丙三"]
    filed = named_filed_cases(world, names)
    others = [add_household(world["village1"], registered=False, name=n) for n in ("丁四", "戊五")]
    set_now("2019-11-20T09:00:00+08:00")
    province, evaluator = token(client, "province1"), token(client, "evaluator1")
    body = {
        "scope_code": "430623",
        "year": 2019,
        "sample_size": 3,
        "seed": 3,
        "nonregistered_sample_size": 2,
    }
    r = client.post("/api/v1/evaluations", json=body, headers=province)
    assert r.status_code == 201, r.get_json()
    ev = r.get_json()
    sample = ev["sample"]
    assert {s["household_id"] for s in sample} == set(filed) | set(others)
    assert ev["progress"] == {"visited": 0, "total": 5}
    assert ev["passed"] is None and ev["metrics"]["passed"] is False  # nothing found yet
    assert any("错退率无法计算" in r for r in ev["metrics"]["reasons"])

    # No finding at all: refused, every household named (head's name and id).
    r = client.post(f"/api/v1/evaluations/{ev['id']}/close", headers=province)
    problem = r.get_json()
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    assert problem["missing_count"] == 5
    assert sorted(problem["missing_household_ids"]) == sorted(filed) + sorted(others)
    assert "尚有 5 户" in problem["detail"]
    for name in [*names, "丁四", "戊五"]:
        assert name in problem["detail"]
    assert "等" not in problem["detail"]  # 5 names: no cut
    assert set(case_states(filed.values()).values()) == {"filed"}

    # Findings one by one: progress after each, for the province and the evaluator.
    done = []
    for s in sample[:3]:
        r = client.post(f"/api/v1/evaluations/{ev['id']}/findings", json=good(s), headers=evaluator)
        assert r.status_code == 201, r.get_json()
        done.append(s["household_id"])
        assert r.get_json()["progress"] == {"visited": len(done), "total": 5}
        for who in (province, evaluator):
            got = client.get(f"/api/v1/evaluations/{ev['id']}", headers=who).get_json()
            assert got["progress"] == {"visited": len(done), "total": 5}
            assert {x["household_id"] for x in got["sample"] if x["visited"]} == set(done)

    # Some missing: exactly those are named, the visited ones are not.
    r = client.post(f"/api/v1/evaluations/{ev['id']}/close", headers=province)
    problem = r.get_json()
    rest = [s["household_id"] for s in sample[3:]]
    assert r.status_code == 409 and problem["missing_count"] == 2
    assert sorted(problem["missing_household_ids"]) == sorted(rest)
    heads = {h: db.session.get(Household, h).head_name for h in filed | dict.fromkeys(others)}
    for h in done:
        assert f"(户 {h})" not in problem["detail"] and heads[h] not in problem["detail"]
    for h in rest:
        assert f"{heads[h]}(户 {h})" in problem["detail"]
    assert set(case_states(filed.values()).values()) == {"filed"}

    # All recorded: closes, passes, the filed cases move on.
    for s in sample[3:]:
        r = client.post(f"/api/v1/evaluations/{ev['id']}/findings", json=good(s), headers=evaluator)
        assert r.status_code == 201, r.get_json()
    got = client.get(f"/api/v1/evaluations/{ev['id']}", headers=province).get_json()
    assert got["progress"] == {"visited": 5, "total": 5}
    r = client.post(f"/api/v1/evaluations/{ev['id']}/close", headers=province)
    assert r.status_code == 200, r.get_json()
    closed = r.get_json()
    assert closed["passed"] is True and closed["closed"] is True
    assert closed["metrics"]["unreachable"] == {"households": 0, "people": 0}
    assert set(case_states(filed.values()).values()) == {"evaluated"}


def test_the_refusal_names_twenty_households_then_counts_the_rest(world):
    filed = named_filed_cases(world, [f"户主{i:02d}" for i in range(23)])
    now = set_now("2019-11-20T09:00:00+08:00")
    ev = evaluation.create(world["province1"], "430623", 2019, 23, 1, 0, None, now)
    sample = evaluation.samples(ev)
    first = sample[0].household_id
    evaluation.record_findings(
        world["evaluator1"],
        ev.id,
        [{"household_id": first, "meets_criteria": True, "satisfied": True}],
        now,
    )
    try:
        evaluation.close(world["province1"], ev.id, now)
        raise AssertionError("closed with 22 households not visited")
    except Conflict as err:
        db.session.rollback()
        assert err.extra["missing_count"] == 22
        assert err.detail.count("(户 ") == 20 and err.detail.endswith(" 等 22 户")
        assert first not in err.extra["missing_household_ids"]
        assert sorted(err.extra["missing_household_ids"]) == sorted(set(filed) - {first})
    assert evaluation.progress(ev) == {"visited": 1, "total": 23}


def test_missed_poor_is_not_applicable_to_a_registered_household(client, world):
    filed = named_filed_cases(world, ["甲", "乙", "丙"])
    other = add_household(world["village1"], registered=False, name="丁")
    set_now("2019-11-20T09:00:00+08:00")
    province, evaluator = token(client, "province1"), token(client, "evaluator1")
    body = {"scope_code": "430623", "year": 2019, "sample_size": 3, "seed": 1}
    ev = client.post(
        "/api/v1/evaluations", json={**body, "nonregistered_sample_size": 1}, headers=province
    ).get_json()
    url = f"/api/v1/evaluations/{ev['id']}/findings"
    a, b, c = sorted(filed)

    def post(payload):
        return client.post(url, json=payload, headers=evaluator)

    yes = {"meets_criteria": True, "satisfied": True}
    assert post({"household_id": a, **yes, "missed_poor": False}).status_code == 201
    assert post({"household_id": b, **yes, "missed_poor": None}).status_code == 201
    r = post({"household_id": c, **yes, "missed_poor": True})
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["missed_poor"]
    assert "是否漏评" in r.get_json()["detail"]
    assert post({"household_id": c, **yes}).status_code == 201  # absent = null
    stored = {
        f.household_id: f.missed_poor
        for f in db.session.scalars(select(Finding).where(Finding.evaluation_id == ev["id"]))
    }
    assert stored == {a: None, b: None, c: None}  # not applicable, whatever was sent

    # The 漏评 sample keeps its meaning: missed_poor is the answer, meets_criteria is not.
    r = post(
        {"household_id": other, "meets_criteria": True, "missed_poor": False, "satisfied": True}
    )
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["meets_criteria"]
    r = post({"household_id": other, "missed_poor": None, "satisfied": True})
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["missed_poor"]
    r = post({"household_id": other, "missed_poor": True, "satisfied": False})
    assert r.status_code == 201
    # A visit needs its answers: an empty finding is refused, not counted.
    r = post({"household_id": a})
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"meets_criteria", "satisfied"}
    got = client.get(f"/api/v1/evaluations/{ev['id']}", headers=province).get_json()
    assert got["progress"] == {"visited": 4, "total": 4}
    assert got["metrics"]["missed_rate"]["numerator"] == db.session.get(Household, other).size


def test_unreachable_households_count_against_the_batch(client, world):
    filed = named_filed_cases(world, [f"户{i}" for i in range(10)])
    other = add_household(world["village1"], registered=False, name="非建档")
    set_now("2019-11-20T09:00:00+08:00")
    province, evaluator = token(client, "province1"), token(client, "evaluator1")
    body = {
        "scope_code": "430623",
        "year": 2019,
        "sample_size": 10,
        "seed": 8,
        "nonregistered_sample_size": 1,
    }
    ev = client.post("/api/v1/evaluations", json=body, headers=province).get_json()
    url = f"/api/v1/evaluations/{ev['id']}/findings"
    for s in ev["sample"]:
        assert client.post(url, json=good(s), headers=evaluator).status_code == 201
    got = client.get(f"/api/v1/evaluations/{ev['id']}", headers=province).get_json()
    assert got["metrics"]["passed"] is True  # all visited and favourable: it would pass

    # The answers of an unreachable household must stay empty; the reason must say something.
    away = sorted(filed)[0]
    r = client.post(
        url,
        json={
            "household_id": away,
            "meets_criteria": True,
            "satisfied": True,
            "unreachable_reason": "外出",
        },
        headers=evaluator,
    )
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"meets_criteria", "satisfied"}
    r = client.post(url, json={"household_id": away, "unreachable_reason": "  "}, headers=evaluator)
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["unreachable_reason"]

    # One exited household out of ten unreachable: 错退率 10%, the batch fails.
    r = client.post(
        url,
        json={
            "household_id": away,
            "meets_criteria": None,
            "missed_poor": False,
            "satisfied": None,
            "unreachable_reason": "全家外出务工,三次上门未遇",
        },
        headers=evaluator,
    )
    assert r.status_code == 201 and r.get_json()["progress"] == {"visited": 11, "total": 11}
    people = db.session.get(Household, away).size
    exited_people = sum(db.session.get(Household, h).size for h in filed)
    got = client.get(f"/api/v1/evaluations/{ev['id']}", headers=province).get_json()
    m = got["metrics"]
    assert m["passed"] is False
    assert (m["wrong_exit_rate"]["numerator"], m["wrong_exit_rate"]["denominator"]) == (
        people,
        exited_people,
    )
    assert (m["approval_rate"]["numerator"], m["approval_rate"]["denominator"]) == (10, 11)
    assert m["unreachable"] == {"households": 1, "people": people}
    assert "1 户无法走访,按不达标(非建档户按漏评)、不满意计" in m["reasons"]

    # The non-registered one unreachable too: counted as 漏评.
    r = client.post(
        url, json={"household_id": other, "unreachable_reason": "房屋空置"}, headers=evaluator
    )
    assert r.status_code == 201
    m = client.get(f"/api/v1/evaluations/{ev['id']}", headers=province).get_json()["metrics"]
    assert m["missed_rate"]["numerator"] == m["missed_rate"]["denominator"] > 0
    assert m["approval_rate"]["numerator"] == 9

    r = client.post(f"/api/v1/evaluations/{ev['id']}/close", headers=province)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["passed"] is False
    states = case_states(filed.values())
    # Nobody checked the unreachable household: it goes back; the others do not move on.
    assert states.pop(filed[away]) == "deferred"
    assert set(states.values()) == {"filed"}


def test_a_batch_without_an_exited_household_is_refused(world):
    regions.add_many(
        [
            dict(
                code="430623100209",
                name="远村",
                level="village",
                parent_code="430623100000",
                rural_population=300,
                remote=True,
            )
        ]
    )
    db.session.commit()
    filed = named_filed_cases(world, ["甲", "乙"])
    now = set_now("2019-11-20T09:00:00+08:00")
    # The remote village is drawn on purpose, and it has no exited household: such a
    # batch could only pass by default, so it is not created.
    try:
        evaluation.create(
            world["province1"], "430623", 2019, 2, 5, 0, None, now, village_sample_size=1
        )
        raise AssertionError("a batch without an exited household was created")
    except Conflict as err:
        db.session.rollback()
        assert "样本为空" in err.detail
    assert db.session.scalar(select(db.func.count()).select_from(Evaluation)) == 0
    assert set(case_states(filed.values()).values()) == {"filed"}


def test_a_list_of_findings_is_refused_whole_naming_each_problem(world):
    filed = named_filed_cases(world, ["甲", "乙", "丙"])
    now = set_now("2019-11-20T09:00:00+08:00")
    ev = evaluation.create(world["province1"], "430623", 2019, 3, 1, 0, None, now)
    a, b, c = sorted(filed)
    ok = {"meets_criteria": True, "missed_poor": False, "satisfied": True}
    try:
        evaluation.record_findings(
            world["evaluator1"],
            ev.id,
            [
                {"household_id": a, **ok},
                {"household_id": b, **ok, "missed_poor": True},
                {"household_id": c, "unreachable_reason": "查无此人", "satisfied": True},
                {"household_id": a, **ok},
            ],
            now,
        )
        raise AssertionError("a list with errors was recorded")
    except ValidationFailed as err:
        db.session.rollback()
        assert set(err.extra["errors"]) == {"1.missed_poor", "2.satisfied", "3.household_id"}
        assert f"户 {b} 是否漏评" in err.detail and "等 3 处" not in err.detail
    assert evaluation.progress(ev) == {"visited": 0, "total": 3}
    evaluation.record_findings(
        world["evaluator1"],
        ev.id,
        [
            {"household_id": a, **ok},
            {"household_id": b, **ok, "missed_poor": None},
            {"household_id": c, "unreachable_reason": "查无此人"},
        ],
        now,
    )
    assert evaluation.progress(ev) == {"visited": 3, "total": 3}
    assert evaluation.close(world["province1"], ev.id, now).passed is False
