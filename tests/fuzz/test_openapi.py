"""schemathesis against /api/v1/openapi.json: no 5xx, and every response matches the schema.

Hypothesis generates requests for every operation (valid and invalid bodies, paths and
query strings), sent as an admin, a county user and with no credentials.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_app
from tests.factories import PASSWORD, build_world
from workflow import clock
from workflow.extensions import db

# No 5xx, documented status codes and content types, bodies that match their schema.
# (Not "every schema-valid request is accepted": a region code that does not exist is
# schema-valid and rightly refused with 422.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 60  # per operation and caller: 3 callers x 60 = 180 requests an operation


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, request):
    from datetime import datetime

    app = make_app("sqlite", tmp_path_factory.mktemp("fuzz"), request)
    clock.set_fake_now(datetime.fromisoformat("2019-11-20T09:00:00+08:00"))
    with app.app_context():
        build_world()
        db.session.remove()
    yield app
    clock.configure(False)


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def tokens(fuzz_app):
    client = fuzz_app.test_client()
    out = {"anonymous": {}}
    for name in ("admin", "county1"):
        r = client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
        out[name] = {"Authorization": f"Bearer {r.get_json()['token']}"}
    return out


def test_api_never_fails_and_keeps_its_schema(api_schema, fuzz_app, tokens):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    sent = {"n": 0}
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            for headers in tokens.values():
                with fuzz_app.app_context():
                    try:
                        case.call_and_validate(app=fuzz_app, headers=headers, checks=CHECKS)
                        sent["n"] += 1
                    finally:
                        db.session.remove()

        try:
            check()
        except Exception as err:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {str(err)[:400]}")
    print(f"schemathesis: {sent['n']} requests over {len(operations)} operations")
    assert failures == [], "\n".join(failures)
