"""Fixtures: the app on SQLite and (when EXITFLOW_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from workflow import clock, create_app
from workflow.extensions import db

PG_URL = os.environ.get("EXITFLOW_TEST_POSTGRES_URL", "").replace(
    "postgresql://", "postgresql+psycopg://"
)
# Helpers working side by side each take their own schema.
PG_SCHEMA = os.environ.get("EXITFLOW_TEST_PG_SCHEMA", "exitflow_test")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def pg_url() -> str:
    """The PostgreSQL URL with the tests' own schema first on the search path."""
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"


@pytest.fixture(scope="session")
def pg_ready():
    """Create the tests' schema once per session."""
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    return {"created": False}


def make_app(backend: str, tmp_path, request, extra: dict | None = None):
    """An app bound to a fresh database of the backend."""
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "EXITFLOW_SECRET_KEY": "test-secret",
        "EXITFLOW_ALLOW_FAKE_CLOCK": "1",
        "EXITFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
        # Stories sign in again after every jump of the fake clock; the limits
        # themselves are tested with their own values.
        "EXITFLOW_RATE_LIMITS": {"login": 100000, "objections": 100000, "public_read": 100000},
        **(extra or {}),
    }
    if backend == "postgres":
        state = request.getfixturevalue("pg_ready")
        config["EXITFLOW_DATABASE_URL"] = pg_url()
    else:
        config["EXITFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'test.db'}"
    app = create_app(config)
    from workflow.security import reset_limits

    reset_limits()
    with app.app_context():
        if backend == "postgres":
            if not state["created"]:
                db.create_all()
                state["created"] = True
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            # The audit table refuses TRUNCATE (append-only); the tests' reset is a
            # superuser's, with user triggers off for this one statement's session.
            db.session.execute(text("SET session_replication_role = replica"))
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.execute(text("SET session_replication_role = DEFAULT"))
            db.session.commit()
        else:
            db.create_all()
    return app


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture
def app(backend, tmp_path, request):
    """The application with a fresh database and the fake clock at 2019-10-08 09:00 +08."""
    app = make_app(backend, tmp_path, request)
    clock.set_fake_now(datetime.fromisoformat("2019-10-08T09:00:00+08:00"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    clock.configure(False)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def world(app):
    """A small county with one user per role (see tests/factories.py)."""
    from tests.factories import build_world

    return build_world()


def tamper(sql: str, params: dict | None = None) -> None:
    """Change the audit record behind the application's back, as a DBA could."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        from workflow.models.audit import APPEND_ONLY_TABLES

        for table in APPEND_ONLY_TABLES:
            db.session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
            db.session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
    db.session.execute(text(sql), params or {})
    db.session.commit()
