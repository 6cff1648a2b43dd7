"""Documents and notices through the API: forms, report, announcement, corrections, storage."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import select

from tests.e2e.test_household_story import Api as StoryApi
from tests.factories import APPRAISAL, SURVEY, VILLAGE, add_household, set_now
from workflow.extensions import db
from workflow.models import Notice, NoticeFile
from workflow.services import cases, notices, publicity, transitions


def Api(client, username):  # noqa: N802 - the story's client, with the factories' password
    from tests.factories import PASSWORD

    return StoryApi(client, username, PASSWORD)


def text(pdf: bytes) -> str:
    pages = PdfReader(io.BytesIO(pdf)).pages
    return "".join(p.extract_text() for p in pages).replace(" ", "").replace("\n", "")


def test_case_forms_and_window_notice_frozen_at_posting(client, world):
    now = set_now("2019-10-21T09:00:00+08:00")
    hid = add_household(world["village1"], name="覃䶮")
    ids = cases.open_household_cases(
        world["township1"], [hid, add_household(world["village1"], name="韦𠀾")], 2019, now
    )
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "0730-1", "address": "村委会"}, None, now
    )
    code, window_id = window.code, window.id
    api = Api(client, "village1")
    survey = api.call("GET", f"/cases/{ids[0]}/documents/survey_form.pdf").data
    assert (
        "摸底调查表" in text(survey) and "覃䶮" in text(survey) and "住房安全有保障" in text(survey)
    )
    record = api.call("GET", f"/cases/{ids[0]}/documents/appraisal_record.pdf").data
    assert "民主评议会议记录" in text(record)
    assert (
        api.call("GET", f"/cases/{ids[0]}/documents/verification_form.pdf", status=409)["detail"]
        == "尚无入户核实记录"
    )
    # The notice is frozen: deferring a case after posting does not change it.
    transitions.fire_one("defer", ids[1], world["village1"], {"reason": "外出"}, now)
    db.session.commit()
    first = client.get(f"/api/v1/publicity-windows/{window_id}/notice.pdf").data
    assert "韦𠀾" in text(first)
    assert client.get(f"/api/v1/notices/{code}/pdf").data == first
    notice = db.session.scalar(select(Notice).where(Notice.code == code))
    assert db.session.get(NoticeFile, notice.id).pdf == first
    # A correction is a new notice naming the one it replaces.
    fixed = api.call(
        "POST", f"/notices/{code}/corrections", {"note": "韦𠀾户暂缓退出,移出名单"}, status=201
    )
    assert fixed["replaces"] == code
    corrected = client.get(f"/api/v1/notices/{fixed['code']}/pdf").data
    assert "韦𠀾户暂缓退出" in text(corrected) and "更正" in text(corrected)
    assert "覃䶮" in text(corrected) and text(corrected).count("韦𠀾") == 1  # only in the note
    verified = client.get(f"/api/v1/notices/{code}").get_json()
    assert verified["replaced_by"] == fixed["code"]
    assert client.get(f"/api/v1/publicity-windows/{window_id}/notice.pdf").data == corrected
    other = Api(client, "township1")
    other.call("POST", f"/notices/{fixed['code']}/corrections", {"note": "改"}, status=403)


def test_pending_notices_are_rendered_in_a_batch(app, world):
    now = set_now("2019-10-21T09:00:00+08:00")
    for _ in range(3):
        ids = cases.open_household_cases(
            world["township1"], [add_household(world["village1"])], 2019, now
        )
        for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
            transitions.fire_many(trigger, ids, world["village1"], payload, now)
        db.session.commit()
        publicity.post(world["village1"], VILLAGE, ids, {"phone": "1", "address": "a"}, None, now)
    assert notices.render_pending() == 3
    assert notices.render_pending() == 0
    for notice in db.session.scalars(select(Notice)):
        assert notice.sha256 and db.session.get(NoticeFile, notice.id)


def test_announcement_lists_the_exited_households(client, world):
    from workflow.models import Case

    now = set_now("2019-12-01T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"],
        [add_household(world["village1"], members=m) for m in (1, 2, 3)],
        2019,
        now,
    )
    db.session.execute(db.update(Case).where(Case.id.in_(ids)).values(state="announced"))
    db.session.commit()
    api = Api(client, "county1")
    made = api.call("POST", "/announcements", {"scope_code": VILLAGE, "year": 2019}, status=201)
    pdf = client.get(f"/api/v1/notices/{made['code']}/pdf").data
    assert "3户9人" in text(pdf) and "脱贫退出公告" in text(pdf)
    Api(client, "village1").call(
        "POST", "/announcements", {"scope_code": VILLAGE, "year": 2019}, status=403
    )


def test_a_notice_rendered_twice_at_once_keeps_the_first_bytes(world, monkeypatch):
    """Two requests fetch a notice nobody has rendered yet: the second to store it serves
    the first one's bytes instead of failing on the stored row."""
    now = set_now("2019-10-21T09:00:00+08:00")
    ids = cases.open_household_cases(
        world["township1"], [add_household(world["village1"])], 2019, now
    )
    for trigger, payload in (("submit_survey", SURVEY), ("appraise", APPRAISAL)):
        transitions.fire_many(trigger, ids, world["village1"], payload, now)
    db.session.commit()
    window = publicity.post(
        world["village1"], VILLAGE, ids, {"phone": "1", "address": "a"}, None, now
    )
    db.session.commit()
    notice = db.session.scalars(select(Notice).where(Notice.window_id == window.id)).one()
    notice_service = notices
    real = notice_service.render_pdf

    def render_while_another_stores(kind, context):
        data = real(kind, context)
        # Meanwhile another request rendered and stored the notice first.
        db.session.add(NoticeFile(notice_id=notice.id, pdf=b"%PDF-first"))
        db.session.commit()
        return data

    monkeypatch.setattr(notice_service, "render_pdf", render_while_another_stores)
    assert notice_service.pdf(notice) == b"%PDF-first"
    assert db.session.get(NoticeFile, notice.id).pdf == b"%PDF-first"
