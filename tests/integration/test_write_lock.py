"""Slow work holds no write lock: one village user's request never stalls the others.

On SQLite one writer holds the database at a time; a request reading its body
(a large or slow upload, a big JSON batch) must do so with no transaction open.
"""

from __future__ import annotations

import io
import json
import threading

import pytest
from sqlalchemy import text

from tests.factories import PASSWORD, add_household
from workflow.extensions import db
from workflow.services import cases


class SlowBody(io.RawIOBase):
    """A request body that stops halfway until the test lets it go on."""

    def __init__(self, data: bytes, arrived: threading.Event, go_on: threading.Event):
        self.data, self.arrived, self.go_on, self.sent = data, arrived, go_on, 0
        self.position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    # The test client measures the body by seeking to its end and back.
    def tell(self):
        return self.position

    def seek(self, offset, whence=0):
        self.position = len(self.data) + offset if whence == 2 else offset
        return self.position

    def readinto(self, buffer):
        if self.sent == 0:
            self.arrived.set()  # the server has authenticated and is now reading
            self.go_on.wait(20)
        chunk = self.data[self.sent : self.sent + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.sent += len(chunk)
        return len(chunk)


def test_a_slow_request_body_holds_no_lock_while_others_write(app, world, backend):
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": "county1", "password": PASSWORD}
    ).get_json()["token"]
    arrived, go_on = threading.Event(), threading.Event()
    payload = json.dumps({"trigger": "approve", "case_ids": [999999], "data": {}}).encode()
    answers = []

    def slow_client():
        with app.app_context():
            answers.append(
                app.test_client().post(
                    "/api/v1/cases/batch-transitions",
                    input_stream=SlowBody(payload, arrived, go_on),
                    content_length=len(payload),
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            db.session.remove()

    thread = threading.Thread(target=slow_client)
    thread.start()
    try:
        assert arrived.wait(10)
        # Another user writes while the slow body is still arriving; on SQLite a
        # held write lock would make this wait out the timeout and fail.
        if backend == "sqlite":
            db.session.execute(text("PRAGMA busy_timeout = 2000"))
            db.session.commit()
        hid = add_household(world["village1"])
        ids = cases.open_household_cases(world["township1"], [hid], 2019, world_now())
        db.session.commit()
        assert len(ids) == 1
    finally:
        go_on.set()
        thread.join(30)
    assert answers and answers[0].status_code == 200
    assert answers[0].get_json()["failed"][0]["id"] == 999999


def world_now():
    from workflow import clock

    return clock.now()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reads_begin_deferred_and_writes_immediate_on_sqlite(app, world):
    """A GET request's transaction takes no lock: a writer goes on while a page is read."""
    statements = []
    from sqlalchemy import event

    def record(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        client = app.test_client()
        token = client.post(
            "/api/v1/auth/token", json={"username": "village1", "password": PASSWORD}
        ).get_json()["token"]
        statements.clear()
        client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert statements and all(s == "BEGIN" for s in statements)
        db.session.remove()  # as at the end of a real request's app context
        statements.clear()
        client.post("/api/v1/auth/token", json={"username": "village1", "password": PASSWORD})
        assert "BEGIN IMMEDIATE" in statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
