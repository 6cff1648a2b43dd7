"""Which keys are in use, in the audit record: a new or swapped key is an event to answer for."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from workflow import personal_data
from workflow.extensions import db
from workflow.models import AuditRecord
from workflow.services import audit
from workflow.services.actors import SYSTEM


def fingerprints() -> dict[str, str]:
    """Short names of the data key and the session key (neither key can be derived)."""
    session = hmac.new(
        current_app.config["SECRET_KEY"].encode(), b"exitflow key fingerprint", hashlib.sha256
    ).hexdigest()[:16]
    return {"data_key": personal_data.fingerprint(), "session_key": session}


def record_keys_in_use(now: datetime) -> bool:
    """Audit the keys when they differ from the last recorded ones; True when recorded."""
    current = fingerprints()
    last = db.session.scalar(
        select(AuditRecord.data_json)
        .where(AuditRecord.chain == audit.NO_REGION, AuditRecord.trigger == "keys_in_use")
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    )
    before = json.loads(last) if last else {}
    if {k: before.get(k) for k in current} == current:
        return False
    changed = sorted(k for k in current if before.get(k) != current[k])
    audit.record_event(
        "keys_in_use", SYSTEM, now, {**current, "changed": changed, "first": not last}, kind="key"
    )
    db.session.commit()
    return True
