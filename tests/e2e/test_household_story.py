"""One village from `planned` to `exited` through the HTTP API and the CLI, with an upheld
and a dismissed objection (the story of issue 2)."""

from __future__ import annotations

from datetime import date

from states.identity import make_id_number

PASSWORD = "Story-password-2019"


class Api:
    """A JSON client acting as one user."""

    def __init__(self, client, username=None, password=PASSWORD):
        self.client, self.headers, self.username = client, {}, username
        self.password = password
        self.login()

    def login(self):
        """A fresh token (tokens expire after 12 hours, and the story spans weeks)."""
        if self.username:
            r = self.client.post(
                "/api/v1/auth/token", json={"username": self.username, "password": self.password}
            )
            assert r.status_code == 200, r.get_json()
            self.headers = {"Authorization": f"Bearer {r.get_json()['token']}"}

    def call(self, method, path, json=None, status=200, headers=None):
        r = self.client.open(
            f"/api/v1{path}", method=method, json=json, headers={**self.headers, **(headers or {})}
        )
        assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True))
        return r.get_json() if r.is_json else r


def test_village_from_planned_to_exited(client, runner):
    result = runner.invoke(args=["create-user", "root", "--role", "admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    admin = Api(client, "root")
    everyone = [admin]

    def travel(now: str) -> None:
        """Move the server's clock, then sign everyone in again."""
        admin.login()
        admin.call("PUT", "/testing/clock", {"now": now})
        for api in everyone:
            api.login()

    travel("2019-10-08T09:00:00+08:00")
    for region in [
        {"code": "450000", "name": "广西壮族自治区", "level": "province", "rule_set": "guangxi"},
        {"code": "451000", "name": "百色市", "level": "city", "parent_code": "450000"},
        {"code": "451022", "name": "田东县", "level": "county", "parent_code": "451000"},
        {"code": "451022100000", "name": "平马镇", "level": "township", "parent_code": "451022"},
        {
            "code": "451022100201",
            "name": "红星村",
            "level": "village",
            "parent_code": "451022100000",
            "rural_population": 1200,
            "is_poor": True,
        },
    ]:
        admin.call("POST", "/regions", region, status=201)
    for name, role, region in [
        ("village1", "village", "451022100201"),
        ("township1", "township", "451022100000"),
        ("township2", "township", "451022100000"),
        ("township3", "township", "451022100000"),
        ("county1", "county", "451022"),
        ("province1", "province", "450000"),
        ("evaluator1", "evaluator", "450000"),
    ]:
        admin.call(
            "POST",
            "/users",
            {
                "username": name,
                "password": PASSWORD,
                "role": role,
                "region_code": region,
                "display_name": name,
            },
            status=201,
        )
    village, county = Api(client, "village1"), Api(client, "county1")
    townships = [Api(client, f"township{i}") for i in (1, 2, 3)]
    province, evaluator, public = Api(client, "province1"), Api(client, "evaluator1"), Api(client)
    everyone += [village, county, province, evaluator, *townships]

    households = []
    for i, name in enumerate(["韦国强", "覃秀英", "黄𠀾", "蒙春花"]):
        h = village.call(
            "POST",
            "/households",
            {
                "village_code": "451022100201",
                "group": f"{i + 1}组",
                "head_name": name,
                "head_id_number": make_id_number("451022", date(1960, 3, 1 + i), i),
                "members": [
                    {
                        "name": "家属",
                        "relation": "配偶",
                        "id_number": make_id_number("451022", date(1962, 5, 1 + i), 100 + i),
                    }
                ],
                "poverty_cause": "因病",
            },
            status=201,
        )
        households.append(h["id"])
    cases = [
        townships[0].call(
            "POST", "/cases", {"kind": "household_exit", "subject": h, "year": 2019}, status=201
        )["id"]
        for h in households
    ]
    upheld, dismissed = cases[0], cases[1]

    travel("2019-10-16T09:00:00+08:00")
    indicators = {
        k: True
        for k in (
            "food",
            "clothing",
            "compulsory_education",
            "basic_medical",
            "housing_safety",
            "safe_water",
            "electricity",
            "road",
            "tv",
        )
    }
    for cid in cases:
        case = village.call(
            "POST",
            f"/cases/{cid}/transitions",
            {
                "trigger": "submit_survey",
                "data": {
                    "surveyed_on": "2019-10-15",
                    "surveyors": ["韦组长", "覃队员"],
                    "income_per_capita": 5200,
                    "indicators": indicators,
                },
            },
        )
        assert case["state"] == "surveyed"
        assert case["data"]["survey"]["judgement"]["met"] is True
    travel("2019-10-21T09:00:00+08:00")
    for cid in cases:
        village.call(
            "POST",
            f"/cases/{cid}/transitions",
            {
                "trigger": "appraise",
                "data": {
                    "meeting_on": "2019-10-20",
                    "present": 31,
                    "votes_for": 28,
                    "votes_against": 2,
                },
            },
        )
    window = village.call(
        "POST",
        "/publicity-windows",
        {
            "scope_code": "451022100201",
            "case_ids": cases,
            "contact": {"phone": "0776-5231234", "address": "红星村村委会"},
        },
        status=201,
    )
    # Posted Monday 21 Oct 2019: seven days not counting the day of posting end on
    # Monday 28 Oct, a working day, so the window closes at 24:00 that day.
    assert window["closes_at"] == "2019-10-28T16:00:00+00:00"
    assert (window["first_day"], window["last_day"]) == ("2019-10-22", "2019-10-28")
    pdf = public.call("GET", f"/publicity-windows/{window['id']}/notice.pdf")
    assert pdf.data.startswith(b"%PDF")

    travel("2019-10-23T15:00:00+08:00")
    objections = {}
    for cid, text in [(upheld, "该户家中仍有重病人,收入不稳定"), (dismissed, "听说该户收入不够")]:
        objections[cid] = public.call(
            "POST",
            f"/publicity-windows/{window['id']}/objections",
            {"case_id": cid, "content": text, "name": "韦某", "contact": "13907761234"},
            status=201,
        )["id"]
        assert village.call("GET", f"/cases/{cid}")["state"] == "objection_review"
    townships[0].call(
        "POST",
        f"/cases/{upheld}/transitions",
        {
            "trigger": "uphold_objection",
            "data": {"objection_id": objections[upheld], "finding": "经核查属实,收入不稳定"},
        },
    )
    townships[0].call(
        "POST",
        f"/cases/{dismissed}/transitions",
        {
            "trigger": "dismiss_objection",
            "data": {"objection_id": objections[dismissed], "finding": "经入户核查,收入达标"},
        },
    )
    assert village.call("GET", f"/cases/{upheld}")["state"] == "surveyed"
    assert village.call("GET", f"/cases/{dismissed}")["state"] == "village_publicity"

    travel("2019-10-28T23:59:59+08:00")
    assert "0 window(s) closed" in runner.invoke(args=["sweep"]).output
    travel("2019-10-29T00:00:00+08:00")
    out = runner.invoke(args=["sweep"])
    assert out.exit_code == 0 and "1 window(s) closed, 3 case(s) advanced" in out.output
    assert "0 window(s) closed" in runner.invoke(args=["sweep"]).output
    onward = cases[1:]
    for cid in onward:
        assert village.call("GET", f"/cases/{cid}")["state"] == "township_verification"

    travel("2019-10-31T18:00:00+08:00")
    for k, reviewer in enumerate(townships):
        for cid in onward:
            reviewer.call(
                "POST",
                f"/cases/{cid}/transitions",
                {"trigger": "verify", "data": {"result": "pass", "visited_on": "2019-10-30"}},
            )
        if k == 0:
            refused = reviewer.call(
                "POST",
                f"/cases/{onward[0]}/transitions",
                {"trigger": "verify", "data": {"result": "pass", "visited_on": "2019-10-30"}},
                status=409,
            )
            assert "只能签一次" in refused["detail"]
    assert {village.call("GET", f"/cases/{c}")["state"] for c in onward} == {"verified"}

    travel("2019-11-01T10:00:00+08:00")
    second = townships[0].call(
        "POST",
        "/publicity-windows",
        {
            "scope_code": "451022100000",
            "case_ids": onward,
            "contact": {"phone": "0776-5239999", "address": "平马镇扶贫工作站"},
        },
        status=201,
    )
    assert second["closes_at"] == "2019-11-08T16:00:00+00:00"
    travel("2019-11-09T00:00:01+08:00")
    assert "1 window(s) closed, 3 case(s) advanced" in runner.invoke(args=["sweep"]).output

    travel("2019-11-12T09:00:00+08:00")
    body = {"trigger": "approve", "case_ids": onward + [upheld], "data": {}}
    first = county.call(
        "POST", "/cases/batch-transitions", body, headers={"Idempotency-Key": "approve-2019-11-12"}
    )
    assert first["succeeded"] == onward
    assert [f["id"] for f in first["failed"]] == [upheld]
    again = county.call(
        "POST", "/cases/batch-transitions", body, headers={"Idempotency-Key": "approve-2019-11-12"}
    )
    assert again == first

    travel("2019-11-20T09:00:00+08:00")
    ev = province.call(
        "POST",
        "/evaluations",
        {"scope_code": "451022", "year": 2019, "sample_size": 2, "seed": 42},
        status=201,
    )
    assert len(ev["sample"]) == 2
    for s in ev["sample"]:
        evaluator.call(
            "POST",
            f"/evaluations/{ev['id']}/findings",
            {
                "household_id": s["household_id"],
                "meets_criteria": True,
                "missed_poor": None,
                "satisfied": True,
            },
            status=201,
        )
    closed = province.call("POST", f"/evaluations/{ev['id']}/close")
    assert closed["passed"] is True
    assert closed["metrics"]["wrong_exit_rate"]["value"] == 0
    assert {village.call("GET", f"/cases/{c}")["state"] for c in onward} == {"evaluated"}

    travel("2019-12-01T09:00:00+08:00")
    for trigger, state in [("announce", "announced"), ("record_exit", "exited")]:
        done = county.call(
            "POST", "/cases/batch-transitions", {"trigger": trigger, "case_ids": onward}
        )
        assert done["succeeded"] == onward and done["failed"] == []
        assert {village.call("GET", f"/cases/{c}")["state"] for c in onward} == {state}
    assert village.call("GET", f"/households/{households[1]}")["status"] == "exited"

    village.call(
        "POST",
        f"/cases/{upheld}/transitions",
        {"trigger": "defer", "data": {"reason": "异议成立,收入不稳定,暂缓退出"}},
    )
    history = village.call("GET", f"/cases/{upheld}")["history"]
    assert [h["trigger"] for h in history] == [
        "create",
        "submit_survey",
        "appraise",
        "publicize",
        "object",
        "uphold_objection",
        "defer",
    ]
    assert history[4]["role"] == "public" and history[5]["actor"] == "township1"

    audit = runner.invoke(args=["verify-audit"])
    assert audit.exit_code == 0 and "audit chain intact" in audit.output
    notice = public.call("GET", f"/notices/{window['code']}")
    assert notice["valid"] is True and len(notice["sha256"]) == 64
