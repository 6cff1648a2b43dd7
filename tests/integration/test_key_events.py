"""A new or swapped key is in the audit record, once; the record never holds the key."""

from __future__ import annotations

import json

from sqlalchemy import select

from workflow import clock, personal_data
from workflow.extensions import db
from workflow.models import AuditRecord
from workflow.services import audit, key_events


def key_records():
    return [
        json.loads(r)
        for r in db.session.scalars(
            select(AuditRecord.data_json)
            .where(AuditRecord.trigger == "keys_in_use")
            .order_by(AuditRecord.id)
        )
    ]


def test_keys_are_recorded_once_and_again_when_one_changes(app):
    # What init-db and the scheduler's start do, twice over: recorded once.
    assert key_events.record_keys_in_use(clock.now())
    assert not key_events.record_keys_in_use(clock.now())
    first = key_records()
    assert len(first) == 1 and first[0]["first"] is True
    assert set(first[0]["changed"]) == {"data_key", "session_key"}
    app.config["SECRET_KEY"] = "another-session-key"
    assert key_events.record_keys_in_use(clock.now())
    records = key_records()
    assert len(records) == 2 and records[1]["changed"] == ["session_key"]
    assert records[1]["data_key"] == personal_data.fingerprint()
    text = " ".join(db.session.scalars(select(AuditRecord.data_json)))
    assert "another-session-key" not in text and "test-secret" not in text
    assert audit.verify(full=True).ok
