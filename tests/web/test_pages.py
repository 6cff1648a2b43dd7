"""The pages, through the Flask client: sign-in, work lists, actions, batches, the public."""

from __future__ import annotations

import re
import time

from sqlalchemy import func, select

from tests.factories import APPRAISAL, PASSWORD, SURVEY, add_household, set_now
from workflow.extensions import db
from workflow.models import Case, Objection
from workflow.services import cases, transitions


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username):
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token_of(page)}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    return token_of(client.get("/").get_data(as_text=True))


def planned(world, n=1):
    now = set_now("2019-10-21T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"],
        [add_household(world["village1"], name=f"户主{i}") for i in range(n)],
        2019,
        now,
    )
    db.session.commit()
    return ids


def test_sign_in_lands_on_the_work_list_and_pages_need_it(client, world):
    assert client.get("/cases").status_code == 302
    planned(world, 2)
    sign_in(client, "village1")
    home = client.get("/").get_data(as_text=True)
    assert "等我办理" in home and "提交摸底调查" in home
    r = client.post("/login", data={"username": "village1", "password": "wrong", "csrf_token": "x"})
    assert r.status_code == 400  # a form without this session's token is refused


def test_wrong_password_is_shown_in_chinese(client, world):
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login", data={"username": "village1", "password": "nope", "csrf_token": token_of(page)}
    )
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_village_surveys_and_posts_a_window_township_signs(client, world):
    ids = planned(world, 2)
    csrf = sign_in(client, "village1")
    case_page = client.get(f"/cases/{ids[0]}").get_data(as_text=True)
    assert "住房安全有保障" in case_page and "提交摸底调查" in case_page
    bad = client.post(
        f"/cases/{ids[0]}/submit_survey",
        data={
            "csrf_token": csrf,
            "surveyed_on": "2019-10-15",
            "surveyors": "韦组长",
            "income_per_capita": "5000",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "操作未完成" in bad and "韦组长" in bad  # the error, and the input kept
    for cid in ids:
        form = {
            "csrf_token": csrf,
            "surveyed_on": "2019-10-15",
            "surveyors": "韦组长,覃队员",
            "income_per_capita": "5200",
            **{f"ind_{c}": "on" for c in SURVEY["indicators"]},
        }
        page = client.post(f"/cases/{cid}/submit_survey", data=form, follow_redirects=True)
        assert "已完成" in page.get_data(as_text=True)
        client.post(
            f"/cases/{cid}/appraise",
            data={
                "csrf_token": csrf,
                "meeting_on": "2019-10-20",
                "present": "30",
                "votes_for": "25",
                "votes_against": "1",
            },
        )
    assert {db.session.get(Case, i).state for i in ids} == {"appraised"}
    page = client.get("/windows/new").get_data(as_text=True)
    assert "户主0" in page and "户主1" in page
    preview = client.post(
        "/windows/new",
        data={
            "csrf_token": csrf,
            "preview": "1",
            "case_ids": [str(ids[0])],
            "phone": "0730-1",
            "address": "村委会",
        },
    )
    assert preview.mimetype == "application/pdf" and preview.data.startswith(b"%PDF")
    assert db.session.get(Case, ids[0]).state == "appraised"  # a preview posts nothing
    r = client.post(
        "/windows/new",
        data={
            "csrf_token": csrf,
            "case_ids": [str(i) for i in ids],
            "phone": "0730-1",
            "address": "村委会",
        },
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert {db.session.get(Case, i).state for i in ids} == {"village_publicity"}
    public = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "拟退出贫困户名单公示" in public and "提出异议" in public


def test_county_batch_approves_across_pages(client, world):
    ids = planned(world, 120)
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="county_review"))
    db.session.commit()
    csrf = sign_in(client, "county1")
    listing = client.get("/cases?state=county_review").get_data(as_text=True)
    assert "共 120 件" in listing and "第 1 / 3 页" in listing
    assert listing.count('name="case_ids"') == 50  # the first page's rows are listed
    confirm = client.post(
        "/cases/batch",
        data={
            "csrf_token": csrf,
            "trigger": "approve",
            "all_matching": "1",
            "state": "county_review",
        },
    )
    text = confirm.get_data(as_text=True)
    assert "<strong>120</strong>" in text and "确认县级批准退出 120 件" in text
    result = client.post(
        "/cases/batch",
        data={
            "csrf_token": csrf,
            "trigger": "approve",
            "confirmed": "1",
            "case_ids": [str(i) for i in ids],
        },
    ).get_data(as_text=True)
    assert "成功 <strong>120</strong>" in result
    assert (
        db.session.scalar(select(func.count()).select_from(Case).where(Case.state == "filed"))
        == 120
    )


def test_the_public_lodges_an_objection_and_bots_do_not(client, world):
    ids = planned(world, 1)
    now = set_now("2019-10-21T09:00:00+08:00")
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    db.session.commit()
    from workflow.services import publicity

    window = publicity.post(
        world["village1"], "430623100201", ids, {"phone": "1", "address": "村委会"}, None, now
    )
    page = client.get(f"/windows/{window.id}").get_data(as_text=True)
    form = {
        "csrf_token": token_of(page),
        "stamp": re.search(r'name="stamp" value="([^"]+)"', page).group(1),
        "case_id": str(ids[0]),
        "name": "韦某",
        "phone": "0776-5231234",
        "content": "该户收入情况需要核实",
    }
    too_fast = client.post(f"/windows/{window.id}/objections", data=form)
    shown = too_fast.get_data(as_text=True)
    # Refused, but nothing typed is lost and the page says what to do.
    assert (
        too_fast.status_code == 422 and "提交过快" in shown and "Location" not in too_fast.headers
    )
    assert "该户收入情况需要核实" in shown and 'value="韦某"' in shown and "0776-5231234" in shown
    refused = client.post(
        f"/windows/{window.id}/objections", data={**form, "phone": "", "stamp": "0"}
    ).get_data(as_text=True)
    assert "该户收入情况需要核实" in refused
    time.sleep(3.1)  # people take longer than three seconds to write one
    assert (
        client.post(
            f"/windows/{window.id}/objections", data={**form, "website": "http://spam"}
        ).status_code
        == 400
    )
    done = client.post(f"/windows/{window.id}/objections", data=form, follow_redirects=True)
    assert "异议已登记" in done.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Objection)) == 1


def test_roles_see_only_their_pages(client, world):
    sign_in(client, "evaluator1")
    assert client.get("/cases").status_code == 403
    assert client.get("/windows/new").status_code == 403
    client.post("/logout", data={"csrf_token": token_of(client.get("/").get_data(as_text=True))})
    sign_in(client, "county1")
    assert client.get("/windows/new").status_code == 403
    assert client.get("/verify?code=NOPE").status_code == 200
