"""The pages' forms under hostile input: where signing in may lead, what caches may keep,
and what a refused form does (the page again, 4xx, the input kept, nothing in a URL)."""

from __future__ import annotations

import html
import io
import re

import pytest
from sqlalchemy import func, select

from tests.factories import APPRAISAL, PASSWORD, SURVEY, add_household, set_now
from tests.web.test_pages import planned, sign_in, token_of
from workflow import clock
from workflow.extensions import db
from workflow.models import Case, Finding, Objection, PublicityWindow, SignOff
from workflow.services import cases, evaluation, publicity, transitions

HUGE = str(2**64)  # 18446744073709551616: no column holds it
RLO, NUL = "\u202e", "\x00"
CJK_EXT = "𠮷䶮"  # CJK extension B and A: welcome everywhere


def refused(response, status: int, *kept: str) -> str:
    """The form again with the status, each typed value in it, and no redirect."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text[:2000]
    assert "Location" not in response.headers
    assert "csrf_token=" not in text  # the token never goes into a link
    for value in kept:
        assert html.escape(value) in text, value
    return text


# 1. Where signing in may lead ---------------------------------------------------------


def login_to(client, next_value: str | None, raw_query: str | None = None):
    """Sign in as village1 from /login?next=...; the response (a redirect)."""
    token = token_of(client.get("/login").get_data(as_text=True))
    url = "/login" + (raw_query or "")
    r = client.post(
        url,
        query_string=None if raw_query or next_value is None else {"next": next_value},
        data={"username": "village1", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


OFF_SITE = [
    "/\tevil.com",
    "/\\evil.com",
    "/\\\\evil.com",
    "//evil.com",
    "///evil.com",
    "https://evil.com",
    "http:evil.com",
    "javascript:alert(1)",
    "\\\\evil.com",
    "/%09/evil.com",
    "/%2F/evil.com",
    "/%5Cevil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    " /evil.com",
    "/cases\\..\\evil",
    "/\x00/evil.com",
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leaves_the_site(client, world, target):
    assert login_to(client, target) == "/"


@pytest.mark.parametrize(
    "raw", ["?next=/%09/evil.com", "?next=/%5C%5Cevil.com", "?next=%2F%2Fevil.com", "?next=/%0a/x"]
)
def test_next_decoded_from_the_query_string_never_leaves_the_site(client, world, raw):
    assert login_to(client, None, raw) == "/"


def test_next_keeps_a_path_of_this_site(client, world):
    assert login_to(client, "/cases?state=surveyed") == "/cases?state=surveyed"
    assert login_to(client, "/") == "/"
    assert login_to(client, None) == "/"


def test_login_form_refuses_bad_fields_in_chinese(client, world):
    page = client.get("/login").get_data(as_text=True)
    for username, password, message in (
        ("v" * 65, "x", "用户名长度不能超过 64 个字符"),
        ("village1" + NUL, "x", "用户名含有不允许的控制字符"),
        ("village" + RLO + "1", "x", "用户名含有不允许的控制字符"),
        ("village1", "p" * 201, "密码长度不能超过 200 个字符"),
    ):
        r = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token_of(page)},
        )
        text = refused(r, 422)
        assert message in text
    r = client.post(
        "/login",
        data={"username": CJK_EXT, "password": "x", "csrf_token": token_of(page)},
    )
    assert r.status_code == 401 and CJK_EXT in r.get_data(as_text=True)


# 2. What caches may keep --------------------------------------------------------------


def window_of(world, n=1):
    ids = planned(world, n)
    now = clock.now()
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    window = publicity.post(
        world["village1"], "430623100201", ids, {"phone": "0730-1", "address": "村委会"}, None, now
    )
    db.session.commit()
    return window, ids


def test_signed_in_responses_are_private_and_not_stored(client, world):
    window, ids = window_of(world)
    # The notice of an open window is the same for everyone: caches may keep it.
    notice = client.get(f"/api/v1/publicity-windows/{window.id}/notice.pdf")
    assert notice.status_code == 200 and notice.headers["Cache-Control"].startswith("public")
    sign_in(client, "village1")
    for url in (
        "/",
        f"/cases/{ids[0]}",
        "/cases",
        "/appraisal",
        "/windows/new",
        "/imports",
        f"/windows/{window.id}",
        f"/api/v1/cases/{ids[0]}",
        f"/api/v1/cases/{ids[0]}/documents/survey_form.pdf",
        f"/api/v1/cases/{ids[0]}/documents/appraisal_record.pdf",
    ):
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["Cache-Control"] == "private, no-store", url
    # A forbidden page and a refused form are private too.
    forbidden = client.get("/dashboard")
    assert forbidden.status_code == 403
    assert forbidden.headers["Cache-Control"] == "private, no-store"
    csrf = token_of(client.get("/windows/new").get_data(as_text=True))
    r = client.post("/windows/new", data={"csrf_token": csrf, "phone": "", "address": ""})
    assert r.status_code == 422 and r.headers["Cache-Control"] == "private, no-store"


def test_bearer_token_responses_and_reports_are_private(client, world):
    window, ids = window_of(world)
    r = client.post("/api/v1/auth/token", json={"username": "county1", "password": PASSWORD})
    assert r.headers["Cache-Control"] == "private, no-store"
    auth = {"Authorization": f"Bearer {r.get_json()['token']}"}
    for url in (f"/api/v1/cases/{ids[0]}", f"/api/v1/cases/{ids[0]}/documents/survey_form.pdf"):
        r = client.get(url, headers=auth)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store", url
    # A closed evaluation's report, read by its commissioner.
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    now = clock.now()
    ev = evaluation.create(world["province1"], "430623", 2019, 1, 1, 0, None, now)
    for s in evaluation.samples(ev):
        db.session.add(
            Finding(
                evaluation_id=ev.id,
                household_id=s.household_id,
                evaluator_id=ev.created_by,
                meets_criteria=True,
                satisfied=True,
                people=1,
                recorded_at=now,
            )
        )
    db.session.commit()
    evaluation.close(world["province1"], ev.id, now)
    db.session.commit()
    sign_in(client, "province1")
    report = client.get(f"/api/v1/evaluations/{ev.id}/report.pdf")
    assert report.status_code == 200 and report.data.startswith(b"%PDF")
    assert report.headers["Cache-Control"] == "private, no-store"


# 3 and 4. Refused forms: the page again, 4xx, the input kept, errors in Chinese ----------


def survey_form(csrf, **fields):
    form = {
        "csrf_token": csrf,
        "surveyed_on": "2019-10-15",
        "surveyors": "韦组长,覃队员",
        "income_per_capita": "5200",
        **{f"ind_{c}": "on" for c in SURVEY["indicators"]},
    }
    form.update(fields)
    return form


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"income_per_capita": "abc"}, "年人均纯收入须为 0 到 10000000 之间的数字"),
        ({"income_per_capita": "1e999"}, "年人均纯收入须为 0 到 10000000 之间的数字"),
        ({"income_per_capita": HUGE}, "年人均纯收入须为 0 到 10000000 之间的数字"),
        ({"income_per_capita": "NaN"}, "年人均纯收入须为 0 到 10000000 之间的数字"),
        ({"income_per_capita": "-1"}, "年人均纯收入须为 0 到 10000000 之间的数字"),
        ({"surveyors": "韦组长"}, "调查人员须为 2 到 20 人"),
        ({"surveyors": "韦组长," + "覃" * 51}, "姓名不能超过 50 个字"),
        ({"surveyors": "韦组长,覃队员" + "," * 2000}, "调查人员长度不能超过 2000 个字符"),
        ({"surveyors": "韦组长,覃" + NUL + "队员"}, "调查人员含有不允许的控制字符"),
        ({"surveyors": "韦组长,覃" + RLO + "队员"}, "调查人员含有不允许的控制字符"),
        ({"surveyed_on": "2019-02-30"}, "调查日期须为有效日期"),
        ({"surveyed_on": "2030-01-01"}, "调查日期不能晚于今天"),
        ({"surveyed_on": HUGE}, "调查日期须为有效日期"),
        ({"version": HUGE}, "页面数据有误"),
        ({"version": "abc"}, "页面数据有误"),
    ],
)
def test_a_refused_survey_keeps_the_input(client, world, fields, message):
    (cid,) = planned(world, 1)
    csrf = sign_in(client, "village1")
    form = survey_form(csrf, **fields)
    r = client.post(f"/cases/{cid}/submit_survey", data=form)
    kept = [v for k, v in fields.items() if k != "version" and NUL not in v and RLO not in v]
    text = refused(r, 422, "韦组长", *kept)
    assert "操作未完成" in text and message in text
    assert 'class="field-error"' in text
    assert "version" in fields or 'aria-invalid="true"' in text
    assert db.session.get(Case, cid).state == "planned"


def test_a_survey_of_cjk_extension_names_is_accepted(client, world):
    (cid,) = planned(world, 1)
    csrf = sign_in(client, "village1")
    r = client.post(f"/cases/{cid}/submit_survey", data=survey_form(csrf, surveyors="𠮷大,䶮二"))
    assert r.status_code == 302 and r.headers["Location"] == f"/cases/{cid}"
    db.session.expire_all()
    assert db.session.get(Case, cid).state == "surveyed"


def test_the_case_page_reads_no_form_values_from_its_url(client, world):
    (cid,) = planned(world, 1)
    sign_in(client, "village1")
    page = client.get(f"/cases/{cid}?surveyors=网址里的值&income_per_capita=99")
    assert page.status_code == 200 and "网址里的值" not in page.get_data(as_text=True)


def surveyed(world, n=1):
    ids = planned(world, n)
    transitions.fire_many("submit_survey", ids, world["village1"], SURVEY, clock.now())
    db.session.commit()
    return ids


def appraise_form(csrf, **fields):
    form = {
        "csrf_token": csrf,
        "meeting_on": "2019-10-20",
        "present": "30",
        "votes_for": "25",
        "votes_against": "1",
        "minutes": "会议纪要:全体代表到会",
    }
    form.update(fields)
    return form


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"votes_for": "1e999"}, "赞成票数须为 0 到 10000 之间的整数"),
        ({"votes_against": HUGE}, "反对票数须为 0 到 10000 之间的整数"),
        ({"present": "abc"}, "实到人数须为 1 到 10000 之间的整数"),
        ({"present": ""}, "实到人数不能为空"),
        ({"representatives": "-5"}, "应到代表须为 1 到 10000 之间的整数"),
        ({"minutes": "纪" * 20001}, "会议纪要长度不能超过 20000 个字符"),
        ({"minutes": "纪要" + NUL}, "会议纪要含有不允许的控制字符"),
        ({"minutes": "纪要" + RLO}, "会议纪要含有不允许的控制字符"),
    ],
)
def test_a_refused_appraisal_on_the_case_page_keeps_the_input(client, world, fields, message):
    (cid,) = surveyed(world)
    csrf = sign_in(client, "village1")
    r = client.post(f"/cases/{cid}/appraise", data=appraise_form(csrf, **fields))
    kept = [v for v in fields.values() if NUL not in v and RLO not in v and len(v) < 100]
    text = refused(r, 422, "2019-10-20", *kept)
    assert message in text
    assert db.session.get(Case, cid).state == "surveyed"


def test_an_appraisal_refused_by_the_rules_is_409_with_the_input(client, world):
    (cid,) = surveyed(world)
    csrf = sign_in(client, "village1")
    form = appraise_form(csrf, votes_for="10", votes_against="18", minutes="多数代表反对𠮷")
    text = refused(client.post(f"/cases/{cid}/appraise", data=form), 409, "多数代表反对𠮷")
    assert "操作未完成" in text and "半数" in text
    assert 'value="10"' in text and 'value="18"' in text


def test_a_stale_page_is_409_with_the_input(client, world):
    (cid,) = surveyed(world)
    csrf = sign_in(client, "village1")
    stale = db.session.get(Case, cid).version - 1  # the page was read before the survey
    form = appraise_form(csrf, version=str(stale), minutes="旧页面上写的纪要")
    text = refused(client.post(f"/cases/{cid}/appraise", data=form), 409, "旧页面上写的纪要")
    assert "案件已被他人更新" in text
    assert db.session.get(Case, cid).state == "surveyed"


def in_verification(world):
    ids = planned(world, 1)
    db.session.execute(
        db.update(Case).where(Case.id.in_(ids)).values(state="township_verification")
    )
    db.session.commit()
    return ids[0]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"result": "maybe"}, "核实结果的选项无效"),
        ({"visited_on": "abc"}, "入户日期须为有效日期"),
        ({"visited_on": "2030-10-01"}, "入户日期不能晚于今天"),
        ({"notes": "说明" * 1001}, "说明长度不能超过 2000 个字符"),
        ({"notes": "说明" + RLO + "反转"}, "说明含有不允许的控制字符"),
        ({"notes": "说明" + NUL}, "说明含有不允许的控制字符"),
    ],
)
def test_a_refused_verification_keeps_the_input(client, world, fields, message):
    cid = in_verification(world)
    csrf = sign_in(client, "township1")
    form = {"csrf_token": csrf, "result": "fail", "visited_on": "2019-10-18", "notes": "已入户"}
    form.update(fields)
    typed = [v for k, v in fields.items() if k != "result"]  # a select shows its options
    kept = [v for v in typed if NUL not in v and RLO not in v and len(v) < 100]
    text = refused(client.post(f"/cases/{cid}/verify", data=form), 422, *kept)
    assert 'value="fail" selected' in text or "result" in fields
    assert message in text
    assert db.session.scalar(select(func.count()).select_from(SignOff)) == 0


def test_a_second_signature_is_refused_with_409_and_the_notes_kept(client, world):
    cid = in_verification(world)
    csrf = sign_in(client, "township1")
    form = {"csrf_token": csrf, "result": "pass", "visited_on": "2019-10-18", "notes": "已入户"}
    r = client.post(f"/cases/{cid}/verify", data=form)
    assert r.status_code == 302 and "csrf" not in r.headers["Location"]
    form["notes"] = "第二次签字𠮷"
    text = refused(client.post(f"/cases/{cid}/verify", data=form), 409, "第二次签字𠮷")
    assert "每人只能签一次" in text


def test_objection_findings_and_reasons_are_checked(client, world):
    window, ids = window_of(world)
    db.session.add(
        Objection(window_id=window.id, case_id=ids[0], content="收入不实", lodged_at=clock.now())
    )
    db.session.execute(db.update(Case).where(Case.id == ids[0]).values(state="objection_review"))
    db.session.commit()
    csrf = sign_in(client, "township1")
    for trigger in ("dismiss_objection", "uphold_objection"):
        for objection_id, finding, message in (
            ("abc", "经查属实", "异议须为 1 到 2147483647 之间的整数"),
            (HUGE, "经查属实", "异议须为 1 到 2147483647 之间的整数"),
            ("1", "结论" + NUL, "调查结论含有不允许的控制字符"),
            ("1", "结" * 2001, "调查结论长度不能超过 2000 个字符"),
            ("1", "  ", "调查结论不能为空"),
        ):
            form = {"csrf_token": csrf, "objection_id": objection_id, "finding": finding}
            text = refused(client.post(f"/cases/{ids[0]}/{trigger}", data=form), 422)
            assert message in text
    for reason, message in (("", "理由不能为空"), ("理由" + RLO, "理由含有不允许的控制字符")):
        form = {"csrf_token": csrf, "reason": reason}
        assert message in refused(client.post(f"/cases/{ids[0]}/defer", data=form), 422)
    form = {"csrf_token": csrf, "reason": "理" * 2001}
    text = refused(client.post(f"/cases/{ids[0]}/defer", data=form), 422)
    assert "理由长度不能超过 2000 个字符" in text
    assert db.session.get(Case, ids[0]).state == "objection_review"


# The 民主评议 desk: one meeting, many households.


def test_a_refused_meeting_keeps_every_vote(client, world):
    ids = surveyed(world, 2)
    csrf = sign_in(client, "village1")
    form = {
        "csrf_token": csrf,
        "meeting_on": "2019-10-20",
        "present": "30",
        "representatives": "35",
        "minutes": "评议纪要𠮷䶮",
        f"include_{ids[0]}": "on",
        f"for_{ids[0]}": "1e999",
        f"against_{ids[0]}": "3",
        f"include_{ids[1]}": "on",
        f"for_{ids[1]}": "27",
        f"against_{ids[1]}": HUGE,
    }
    text = refused(
        client.post("/appraisal", data=form), 422, "评议纪要𠮷䶮", "1e999", HUGE, "27", "35"
    )
    assert "未记录" in text and "赞成票数须为 0 到 10000 之间的整数" in text
    assert "反对票数须为 0 到 10000 之间的整数" in text
    for field, value, message in (
        ("present", "abc", "实到人数须为 1 到 10000 之间的整数"),
        ("meeting_on", "2019-13-01", "会议日期须为有效日期"),
        ("minutes", "纪要" + NUL, "会议纪要含有不允许的控制字符"),
        ("minutes", "纪" * 20001, "会议纪要长度不能超过 20000 个字符"),
    ):
        good = {**form, f"for_{ids[0]}": "25", f"against_{ids[1]}": "1", field: value}
        assert message in refused(client.post("/appraisal", data=good), 422)
    # Nobody chosen: the boxes stay as they were left.
    bare = {k: v for k, v in form.items() if not k.startswith("include_")}
    text = refused(client.post("/appraisal", data=bare), 422, "评议纪要𠮷䶮")
    assert "请至少选择一户" in text and "checked" not in text.split("<table>")[1]
    assert {db.session.get(Case, i).state for i in ids} == {"surveyed"}
    good = {**form, f"for_{ids[0]}": "25", f"against_{ids[1]}": "1"}
    page = client.post("/appraisal", data=good).get_data(as_text=True)
    assert "成功 <strong>2</strong>" in page


# Posting a window.


def appraised(world, n=2):
    ids = surveyed(world, n)
    transitions.fire_many("appraise", ids, world["village1"], APPRAISAL, clock.now())
    db.session.commit()
    return ids


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"phone": ""}, "异议受理电话不能为空"),
        ({"phone": "07"}, "异议受理电话至少需要 3 个字符"),
        ({"phone": "0730" + RLO + "1234"}, "异议受理电话含有不允许的控制字符"),
        ({"phone": "1" * 41}, "异议受理电话长度不能超过 40 个字符"),
        ({"address": "村" * 201}, "异议受理地址长度不能超过 200 个字符"),
        ({"address": "村委会" + NUL}, "异议受理地址含有不允许的控制字符"),
        ({"address": "村委会\n二楼"}, "异议受理地址含有不允许的控制字符"),
        ({"case_ids": ["abc"]}, "所选案件有误"),
        ({"case_ids": [HUGE]}, "所选案件有误"),
        ({"case_ids": []}, "请先选择案件"),
    ],
)
def test_a_refused_window_post_keeps_the_input(client, world, fields, message):
    ids = appraised(world)
    csrf = sign_in(client, "village1")
    form = {"csrf_token": csrf, "case_ids": [str(ids[1])], "phone": "0730-1", "address": "村委会"}
    form.update(fields)
    typed = [fields.get(k, form[k]) for k in ("phone", "address")]
    kept = [v for v in typed if v and NUL not in v and RLO not in v and len(v) < 100]
    for preview in ({}, {"preview": "1"}):
        r = client.post("/windows/new", data={**form, **preview})
        text = refused(r, 422, *kept)
        assert "未能发布" in text and message in text
        if "case_ids" not in fields:  # the chosen case stays chosen, the other not
            assert f'value="{ids[1]}" class="pick" checked' in text
            assert f'value="{ids[0]}" class="pick" >' in text
    assert db.session.scalar(select(func.count()).select_from(PublicityWindow)) == 0


def test_a_window_of_cases_posted_meanwhile_is_409(client, world):
    ids = appraised(world)
    csrf = sign_in(client, "village1")
    form = {"csrf_token": csrf, "case_ids": [str(i) for i in ids], "phone": "0730-1"}
    form["address"] = "𠮷村委会"
    publicity.post(
        world["village1"],
        "430623100201",
        [ids[0]],
        {"phone": "1", "address": "a"},
        None,
        clock.now(),
    )
    db.session.commit()
    text = refused(client.post("/windows/new", data=form), 409, "𠮷村委会", "0730-1")
    assert "所选案件已不在待公示名单中" in text
    form["case_ids"] = [str(ids[1])]
    r = client.post("/windows/new", data=form)
    assert r.status_code == 302 and "address" not in r.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(PublicityWindow)) == 2


# The county's batches and the case list's filters.


def test_batches_refuse_bad_ids_triggers_filters_and_reasons(client, world):
    ids = planned(world, 3)
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="county_review"))
    db.session.commit()
    csrf = sign_in(client, "county1")
    for fields, message in (
        ({"trigger": "approve", "case_ids": [HUGE]}, "所选案件有误"),
        ({"trigger": "approve", "case_ids": ["1e999"]}, "所选案件有误"),
        ({"trigger": "approve"}, "请先选择案件"),
        ({"trigger": "explode", "case_ids": [str(ids[0])]}, "批量操作的选项无效"),
        ({"trigger": "approve", "all_matching": "1", "state": "x" + NUL}, "状态无效"),
        ({"trigger": "approve", "all_matching": "1", "region": "4306" + RLO}, "地区代码"),
        ({"trigger": "approve", "all_matching": "1", "kind": "k" * 3000}, "案件类型无效"),
    ):
        text = refused(client.post("/cases/batch", data={"csrf_token": csrf, **fields}), 422)
        assert "未办理" in text and message in text
    confirm = {"csrf_token": csrf, "trigger": "defer", "confirmed": "1"}
    confirm["case_ids"] = [str(i) for i in ids]
    for reason, message in (
        ("", "暂缓理由不能为空"),
        ("理由" + RLO + "倒置", "暂缓理由含有不允许的控制字符"),
        ("理" * 2001, "暂缓理由长度不能超过 2000 个字符"),
    ):
        text = refused(client.post("/cases/batch", data={**confirm, "reason": reason}), 422)
        assert message in text and "确认暂缓退出 3 件" in text
    text = refused(client.post("/cases/batch", data={**confirm, "reason": "  "}), 422)
    assert "暂缓理由不能为空" in text
    assert {db.session.get(Case, i).state for i in ids} == {"county_review"}
    page = client.post("/cases/batch", data={**confirm, "reason": "家庭变故𠮷"})
    assert page.status_code == 200 and "成功 <strong>3</strong>" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, message",
    [
        ({"page": HUGE}, "页码须为 1 到 1000000 之间的整数"),
        ({"page": "abc"}, "页码须为 1 到 1000000 之间的整数"),
        ({"state": NUL}, "状态无效"),
        ({"region": "1e999"}, "地区代码须为 6 位或 12 位数字"),
        ({"kind": RLO}, "案件类型无效"),
    ],
)
def test_the_case_list_refuses_bad_filters(client, world, query, message):
    planned(world, 1)
    sign_in(client, "county1")
    text = refused(client.get("/cases", query_string=query), 422)
    assert "筛选条件有误" in text and message in text


@pytest.mark.parametrize("year", [HUGE, "abc", "1e999", "99999"])
def test_the_dashboard_refuses_a_bad_year(client, world, year):
    sign_in(client, "county1")
    text = refused(client.get("/dashboard", query_string={"year": year}), 422)
    assert "年份须为 2011 到 2100 之间的整数" in text


# The evaluator's findings and the import page.


def test_refused_findings_keep_the_choices(client, world):
    now = set_now("2019-11-12T09:00:00+08:00")
    hids = [add_household(world["village1"], name=f"样本{i}") for i in range(2)]
    ids = cases.open_household_cases(world["township1"], hids, 2019, now)
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="filed"))
    db.session.commit()
    ev = evaluation.create(world["province1"], "430623", 2019, 2, 1, 0, ["evaluator1"], now)
    a, b = (s.household_id for s in evaluation.samples(ev))
    csrf = sign_in(client, "evaluator1")
    for fields, message in (
        ({f"meets_{a}": "maybe", f"satisfied_{a}": "yes"}, "是否达标的选项无效"),
        ({f"satisfied_{a}": HUGE}, "是否满意的选项无效"),
        ({f"unreachable_{a}": "外出" + RLO}, "无法走访原因含有不允许的控制字符"),
        ({f"unreachable_{a}": "外出" + NUL}, "无法走访原因含有不允许的控制字符"),
        ({f"unreachable_{a}": "外" * 501}, "无法走访原因长度不能超过 500 个字符"),
    ):
        form = {"csrf_token": csrf, f"meets_{b}": "no", f"satisfied_{b}": "yes", **fields}
        text = refused(client.post(f"/evaluations/{ev.id}", data=form), 422)
        assert "未保存" in text and message in text
        # b's answers are still chosen.
        row_b = text.split(f'name="meets_{b}"')[1].split("</tr>")[0]
        assert '<option value="no" selected>' in row_b and '<option value="yes" selected>' in row_b
    # Half-filled (the service's rule): refused, the choice kept, the field named.
    form = {"csrf_token": csrf, f"meets_{a}": "no", f"unreachable_{b}": "全家外出𠮷"}
    text = refused(client.post(f"/evaluations/{ev.id}", data=form), 422, "全家外出𠮷")
    assert "必填" in text and '<option value="no" selected>' in text
    assert db.session.scalar(select(func.count()).select_from(Finding)) == 0
    form[f"satisfied_{a}"] = "no"
    r = client.post(f"/evaluations/{ev.id}", data=form)
    assert r.status_code == 302 and r.headers["Location"] == f"/evaluations/{ev.id}"
    assert db.session.scalar(select(func.count()).select_from(Finding)) == 2


def test_an_import_without_a_file_is_422(client, world):
    csrf = sign_in(client, "village1")
    text = refused(client.post("/imports", data={"csrf_token": csrf}), 422)
    assert "请选择文件" in text
    empty = {"csrf_token": csrf, "file": (io.BytesIO(b""), "")}
    assert "请选择文件" in refused(client.post("/imports", data=empty), 422)
    raw = "村代码,村民小组,户主姓名,户主身份证号\n".encode()
    bidi = {"csrf_token": csrf, "file": (io.BytesIO(raw), "h" + RLO + "vsc.csv")}
    assert "文件名含有不允许的控制字符" in refused(client.post("/imports", data=bidi), 422)


def test_no_failed_form_redirects_with_its_values(client, world):
    """The pages never build a redirect from the form (the old `**request.form`)."""
    from pathlib import Path

    import workflow.web

    source = "\n".join(
        p.read_text(encoding="utf-8")
        for p in Path(workflow.web.__file__).parent.glob("*.py")
        if p.name not in ("public.py", "admin.py", "session.py")
    )
    assert "**request.form" not in source and "**request.args" not in source
    assert not re.search(r"url_for\([^)]*request\.(form|args)", source)
