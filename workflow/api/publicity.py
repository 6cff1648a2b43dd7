"""Publicity windows, their notices, public objections and notice verification."""

from __future__ import annotations

from flask import Response

from notices import render_pdf
from workflow import clock
from workflow.api import actor, body, bp, doc, load, optional_actor, public_url, schemas
from workflow.security import limited
from workflow.services import documents, notices, publicity


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
@doc("A window: public while open", response_schema=schemas.WindowOut, public=True)
def get_window(window_id: int):
    now = clock.now()
    return window_dict(publicity.get_window(window_id, optional_actor(), now), now)


@bp.get("/publicity-windows/<id:window_id>/notice.pdf")
@limited("public_read", 120)
@doc("The window's notice as PDF: public while open", public=True)
def window_notice(window_id: int):
    now = clock.now()
    window = publicity.get_window(window_id, optional_actor(), now)
    pdf = notices.window_pdf(window)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="notice-{window.code}.pdf"',
            "Cache-Control": "public, max-age=300",
        },
    )


@bp.post("/publicity-windows/<id:window_id>/objections")
@limited("objections", 10)
@doc(
    "Lodge an objection against a listed case while the window is open",
    schemas.ObjectionIn,
    public=True,
    status=201,
)
def lodge_objection(window_id: int):
    data = load(schemas.ObjectionIn, body())
    objection = publicity.lodge_objection(
        window_id, data["case_id"], data["content"], data.get("contact"), clock.now()
    )
    return {"id": objection.id, "status": objection.status}, 201


@bp.get("/notices/<code>")
@limited("public_read", 120)
@doc("Verify a notice by its code", public=True)
def verify_notice(code: str):
    return notices.verify(code)


def _pdf(data: bytes, name: str) -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{name}.pdf"',
            "Cache-Control": "public, max-age=300",
        },
    )


@bp.get("/notices/<code>/pdf")
@limited("public_read", 120)
@doc("A notice's PDF as issued (public)", public=True)
def notice_pdf(code: str):
    notice = notices.by_code(code)
    return _pdf(notices.pdf(notice), notice.code)


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
