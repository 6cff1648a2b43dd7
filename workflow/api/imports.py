"""Importing households from a spreadsheet."""

from __future__ import annotations

from flask import Response, request

from workflow import clock
from workflow.api import actor, bp, doc
from workflow.errors import BadRequest, Forbidden
from workflow.services import households, imports


@bp.post("/imports/households")
@doc(
    "Import households from CSV or XLSX (multipart `file`): all rows or none. A head already "
    "registered is named by row only to its own village and township; anyone else gets one "
    "fixed 422 naming no row",
    status=201,
)
def import_households():
    who = actor()
    if who.role not in households.WRITERS:  # deny before reading anything
        raise Forbidden("您的角色不能导入贫困户")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("请上传文件 (multipart field `file`)")
    try:
        raw = upload.read()
    finally:
        upload.close()  # large uploads spool to a temporary file
    count = imports.import_households(who, upload.filename, raw, clock.now())
    return {"imported": count, "errors": []}, 201


@bp.get("/imports/households/template.csv")
@doc("The CSV template of the household import, with its documented columns")
def import_template():
    actor()
    return Response(
        imports.template_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="households-template.csv"'},
    )
