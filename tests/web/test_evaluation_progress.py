"""The evaluation pages: 已走访 n / N 户, unreachable households, half-filled rows refused."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import add_household, set_now
from tests.web.test_pages import sign_in
from workflow.extensions import db
from workflow.models import Case, Finding
from workflow.services import cases, evaluation


def filed(world, n):
    now = set_now("2019-11-12T09:00:00+08:00")
    hids = [add_household(world["village1"], name=f"样本{i}") for i in range(n)]
    ids = cases.open_household_cases(world["township1"], hids, 2019, now)
    db.session.commit()
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    return hids


def test_evaluator_and_city_see_how_many_households_were_visited(client, world):
    filed(world, 3)
    now = set_now("2019-11-20T09:00:00+08:00")
    ev = evaluation.create(world["province1"], "430623", 2019, 3, 1, 0, ["evaluator1"], now)
    a, b, c = (s.household_id for s in evaluation.samples(ev))
    csrf = sign_in(client, "evaluator1")
    page = client.get(f"/evaluations/{ev.id}").get_data(as_text=True)
    assert "已走访 0 / 3 户" in page and page.count("未走访") == 3

    form = {
        "csrf_token": csrf,
        f"meets_{a}": "yes",
        f"satisfied_{a}": "yes",
        f"unreachable_{b}": "全家外出务工",
    }
    page = client.post(f"/evaluations/{ev.id}", data=form, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "已保存 2 户的评估结果" in text
    assert "已走访 2 / 3 户" in text and "无法走访:全家外出务工" in text
    assert text.count("未走访") == 1
    rows = {f.household_id: f for f in db.session.scalars(select(Finding))}
    assert rows[b].unreachable_reason == "全家外出务工" and rows[b].satisfied is None

    # A half-filled row (达标 without 满意) is refused, and nothing of the form is saved.
    form = {"csrf_token": csrf, f"meets_{c}": "yes", f"satisfied_{a}": "no", f"meets_{a}": "yes"}
    text = client.post(f"/evaluations/{ev.id}", data=form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "未保存" in text and "是否满意" in text and "已走访 2 / 3 户" in text
    db.session.expire_all()
    assert db.session.get(Finding, rows[a].id).satisfied is True

    client.post("/logout", data={"csrf_token": csrf})
    sign_in(client, "city1")
    listing = client.get("/evaluations").get_data(as_text=True)
    assert f"批次 {ev.id}" in listing and "已走访 2 / 3 户" in listing
