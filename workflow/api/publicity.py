"""Publicity windows, their notices, public objections and notice verification."""

from __future__ import annotations

from flask import Response

from workflow import clock
from workflow.api import actor, body, bp, doc, load, optional_actor, public_url, schemas
from workflow.security import limited
from workflow.services import notices, publicity


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
