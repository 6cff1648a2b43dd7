"""The audit record, for the audit administrator (三员分立: read-only, nobody else)."""

from __future__ import annotations

import json

from flask import request
from sqlalchemy import func, select

from workflow.api import bp, doc, page_args, query_int, roles
from workflow.extensions import db
from workflow.inputs import INT_MAX
from workflow.models import AuditRecord


@bp.get("/audit")
@roles("auditor")
@doc("Read the audit record (auditor only; filters case_id, actor, trigger)", many=True)
def list_audit():
    page, per_page = page_args()
    query = select(AuditRecord)
    case_id = query_int("case_id", 1, INT_MAX)
    if case_id is not None:
        query = query.where(AuditRecord.case_id == case_id)
    for key, column in (("actor", AuditRecord.actor_username), ("trigger", AuditRecord.trigger)):
        if request.args.get(key):
            query = query.where(column == request.args[key])
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.order_by(AuditRecord.id).limit(per_page).offset((page - 1) * per_page)
    )
    return {
        "items": [
            {
                "chain": r.chain,
                "seq": r.seq,
                "case_id": r.case_id,
                "kind": r.kind,
                "trigger": r.trigger,
                "from_state": r.from_state,
                "to_state": r.to_state,
                "actor": r.actor_username,
                "role": r.actor_role,
                "at": r.at.isoformat(),
                "data": json.loads(r.data_json),
                "hash": r.hash,
            }
            for r in rows
        ],
        "page": page,
        "per_page": per_page,
        "total": total,
    }
