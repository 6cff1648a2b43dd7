"""Publicity windows, their notices, public objections and notice verification."""

from __future__ import annotations

from flask import Response, request
from marshmallow import Schema

from notices import render_pdf
from workflow import clock
from workflow.api import actor, body, bp, doc, load, optional_actor, public_url, schemas
from workflow.security import limited
from workflow.services import documents, notices, publicity


class ObjectionIn(Schema):
    """An objection: 实名 (name) and a phone number or an address (contact) are required.

    Lengths and formats are the service's rules, the same for the web form
    (workflow/services/publicity.py, `objection_problems`).
    """

    case_id = schemas.Id(required=True)
    name = schemas.Text(
        publicity.NAME_MAX, required=True, metadata={"description": "真实姓名,2至50个字"}
    )
    contact = schemas.Text(
        publicity.CONTACT_MAX,
        required=True,
        metadata={"description": "手机号、带区号的固定电话,或联系地址"},
    )
    content = schemas.Text(
        publicity.CONTENT_MAX,
        multiline=True,
        required=True,
        metadata={"description": "异议内容,5至2000个字"},
    )


def _cache(access: str) -> str:
    """Names public: caches may keep them a little; a region reader's copy: nobody may."""
    return "public, max-age=300" if access == "public" else "private, no-store"


def window_dict(window, now) -> dict:
    """A window as the API shows it."""
    return {
        "id": window.id,
        "code": window.code,
        "title": window.title,
        "stage": window.stage,
        "scope_code": window.scope_code,
        "opens_at": clock.as_utc(window.opens_at).isoformat(),
        "closes_at": clock.as_utc(window.closes_at).isoformat(),
        "first_day": window.first_day,
        "last_day": window.last_day,
        "notice_url": public_url(f"/api/v1/publicity-windows/{window.id}/notice.pdf"),
        "is_open": publicity.is_open(window, now),
        "case_ids": publicity.window_case_ids(window.id),
    }


@bp.post("/publicity-windows")
@doc(
    "Post a publicity window; moves its cases into publicity",
    schemas.WindowIn,
    schemas.WindowOut,
    status=201,
)
def post_window():
    data = load(schemas.WindowIn, body())
    now = clock.now()
    window = publicity.post(
        actor(), data["scope_code"], data["case_ids"], data["contact"], data.get("title"), now
    )
    return window_dict(window, now), 201


@bp.get("/publicity-windows/<id:window_id>")
@limited("public_read", 120)
@doc(
    "A window: public while its names are (EXITFLOW_NOTICE_RETENTION), then 410 Gone "
    "but for users of its region",
    response_schema=schemas.WindowOut,
    public=True,
)
def get_window(window_id: int):
    now = clock.now()
    return window_dict(publicity.get_window(window_id, optional_actor(), now), now)


@bp.get("/publicity-windows/<id:window_id>/notice.pdf")
@limited("public_read", 120)
@doc(
    "The window's notice as PDF: public while its names are, then 410 Gone but for its region",
    public=True,
)
def window_notice(window_id: int):
    now = clock.now()
    window = publicity.get_window(window_id, optional_actor(), now)
    access = publicity.window_access(window, optional_actor(), now)
    pdf = notices.window_pdf(window)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="notice-{window.code}.pdf"',
            "Cache-Control": _cache(access),
        },
    )


@bp.post("/publicity-windows/<id:window_id>/objections")
@limited("objections", 10)
@doc(
    "Lodge an objection (real name and contact) against a listed case while the window is "
    "open; limited per window and per client address a day (429)",
    ObjectionIn,
    public=True,
    status=201,
)
def lodge_objection(window_id: int):
    data = load(ObjectionIn, body())
    objection = publicity.lodge_objection(
        window_id,
        data["case_id"],
        data["content"],
        data["contact"],
        clock.now(),
        name=data["name"],
        client=request.remote_addr,
    )
    return {"id": objection.id, "status": objection.status}, 201


@bp.get("/notices/<code>")
@limited("public_read", 120)
@doc("Verify a notice by its code", public=True)
def verify_notice(code: str):
    return notices.verify(code)


def _pdf(data: bytes, name: str, cache: str = "private, no-store") -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}.pdf"', "Cache-Control": cache},
    )


@bp.get("/notices/<code>/pdf")
@limited("public_read", 120)
@doc(
    "A notice's PDF as issued: a window's notice while its names are public, then 410 Gone "
    "but for its region (the code still verifies it); announcements stay public",
    public=True,
)
def notice_pdf(code: str):
    notice = notices.by_code(code)
    access = publicity.notice_access(notice, optional_actor(), clock.now())
    return _pdf(notices.pdf(notice), notice.code, _cache(access))


@bp.post("/notices/<code>/corrections")
@doc(
    "Issue a correction of a window notice; the new notice names the one it replaces",
    schemas.CorrectionIn,
    status=201,
)
def correct_notice(code: str):
    data = load(schemas.CorrectionIn, body())
    notice = notices.correct(actor(), code, data["note"], clock.now())
    return {
        "code": notice.code,
        "serial": notice.serial,
        "replaces": code,
        "notice_url": public_url(f"/api/v1/notices/{notice.code}/pdf"),
    }, 201


@bp.post("/announcements")
@doc(
    "Issue a village's 脱贫退出公告 for its announced exits (county)",
    schemas.AnnouncementIn,
    status=201,
)
def issue_announcement():
    data = load(schemas.AnnouncementIn, body())
    notice = documents.announce(actor(), data["scope_code"], data["year"], clock.now())
    return {
        "code": notice.code,
        "serial": notice.serial,
        "notice_url": public_url(f"/api/v1/notices/{notice.code}/pdf"),
    }, 201


@bp.get("/cases/<id:case_id>/documents/<kind>.pdf")
@doc("A household case's form: survey_form, appraisal_record or verification_form")
def case_document(case_id: int, kind: str):
    doc_kind, context = documents.case_document(actor(), case_id, kind, clock.now())
    return _pdf(render_pdf(doc_kind, context), f"{kind}-{case_id}")


@bp.get("/evaluations/<id:evaluation_id>/report.pdf")
@doc("The closed evaluation's report (commissioners)")
def evaluation_report(evaluation_id: int):
    kind, context = documents.evaluation_report(actor(), evaluation_id, clock.now())
    return _pdf(render_pdf(kind, context), f"evaluation-{evaluation_id}")
