"""The fake clock endpoint: tests only (EXITFLOW_ALLOW_FAKE_CLOCK=1)."""

from __future__ import annotations

from flask import current_app

from workflow import clock
from workflow.api import body, bp, doc, load, roles, schemas
from workflow.errors import NotFound


@bp.put("/testing/clock")
@roles("admin")
@doc("Set the server's clock (only with EXITFLOW_ALLOW_FAKE_CLOCK=1)", schemas.ClockIn)
def set_clock():
    if not current_app.config["ALLOW_FAKE_CLOCK"]:
        raise NotFound("not available")
    data = load(schemas.ClockIn, body())
    clock.set_fake_now(data["now"])
    return {"now": clock.now().isoformat()}
