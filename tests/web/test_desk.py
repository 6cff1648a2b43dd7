"""Desk pages: a whole 民主评议 meeting, imports, objections, evaluation, dashboard."""

from __future__ import annotations

import io

from sqlalchemy import select

from tests.factories import SURVEY, VILLAGE, add_household, set_now
from tests.web.test_pages import sign_in
from workflow.extensions import db
from workflow.models import Case, Finding, Household
from workflow.services import cases, evaluation, transitions


def surveyed(world, n):
    now = set_now("2019-10-21T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"],
        [add_household(world["village1"], name=f"评议{i}") for i in range(n)],
        2019,
        now,
    )
    transitions.fire_many("submit_survey", ids, world["village1"], SURVEY, now)
    db.session.commit()
    return ids


def test_one_meeting_appraises_many_households(client, world):
    ids = surveyed(world, 3)
    csrf = sign_in(client, "village1")
    assert "评议2" in client.get("/appraisal").get_data(as_text=True)
    form = {
        "csrf_token": csrf,
        "meeting_on": "2019-10-20",
        "present": "30",
        "representatives": "35",
    }
    votes = {ids[0]: (25, 2), ids[1]: (10, 18), ids[2]: (28, 0)}
    for cid, (yes, no) in votes.items():
        form.update({f"include_{cid}": "on", f"for_{cid}": str(yes), f"against_{cid}": str(no)})
    page = client.post("/appraisal", data=form).get_data(as_text=True)
    assert "成功 <strong>2</strong>" in page and "未超过参会人数 30 的半数" in page
    assert [db.session.get(Case, i).state for i in ids] == ["appraised", "surveyed", "appraised"]


def test_import_page_lists_errors_by_row(client, world):
    csrf = sign_in(client, "village1")
    assert "下载模板" in client.get("/imports").get_data(as_text=True)
    raw = "村代码,村民小组,户主姓名,户主身份证号\n430623100201,1组,甲,123\n".encode()
    page = client.post("/imports", data={"csrf_token": csrf, "file": (io.BytesIO(raw), "h.csv")})
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and "户主身份证号" in text and "<td>2</td>" in text
    assert db.session.scalar(select(db.func.count()).select_from(Household)) == 0


def test_evaluator_records_findings_and_county_sees_charts(client, world):
    ids = surveyed(world, 4)
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    ev = evaluation.create(
        world["province1"],
        "430623",
        2019,
        4,
        1,
        0,
        ["evaluator1"],
        set_now("2019-11-20T09:00:00+08:00"),
    )
    csrf = sign_in(client, "evaluator1")
    page = client.get(f"/evaluations/{ev.id}").get_data(as_text=True)
    assert page.count("satisfied_") == 4
    sample = evaluation.samples(ev)
    form = {"csrf_token": csrf}
    for s in sample:
        form[f"meets_{s.household_id}"] = "yes"
        form[f"satisfied_{s.household_id}"] = "yes"
    client.post(f"/evaluations/{ev.id}", data=form)
    assert len(db.session.scalars(select(Finding)).all()) == 4
    client.post("/logout", data={"csrf_token": csrf})
    client.get("/login")
    sign_in(client, "county1")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert dashboard.count("<svg") == 3 and "已批准并报备案" in dashboard  # no overdue yet
    assert VILLAGE and "红星村" in dashboard


def test_admin_disables_a_user_and_sees_the_scheduler(client, world):
    csrf = sign_in(client, "admin")
    page = client.get("/admin").get_data(as_text=True)
    assert "调度器尚未运行" in page and "township2" in page
    client.post("/admin/users/township2/disable", data={"csrf_token": csrf})
    assert "已停用" in client.get("/admin").get_data(as_text=True)
    other = client.application.test_client()
    from tests.web.test_pages import token_of

    login = other.get("/login").get_data(as_text=True)
    r = other.post(
        "/login",
        data={
            "username": "township2",
            "password": "Test-password-2019",
            "csrf_token": token_of(login),
        },
    )
    assert r.status_code == 401
