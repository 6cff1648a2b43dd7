"""The exitflow command line: the demo driven through the real services, create-user, sweep."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import tamper
from workflow import create_app
from workflow.errors import ConfigurationError
from workflow.extensions import db
from workflow.models import AuditRecord, Case, Household


def test_seed_demo_drives_households_to_exited(runner):
    result = runner.invoke(args=["seed-demo", "--households", "36", "--advance-to", "exited"])
    assert result.exit_code == 0, result.output
    assert "demo logins" in result.output and "exited=36" in result.output
    assert (
        db.session.scalar(select(func.count()).select_from(Case).where(Case.state == "exited"))
        == 36
    )
    assert (
        db.session.scalar(
            select(func.count()).select_from(Household).where(Household.status == "exited")
        )
        == 36
    )
    # Every step was a real transition with its audit record.
    triggers = set(db.session.scalars(select(AuditRecord.trigger)))
    assert {
        "create",
        "submit_survey",
        "appraise",
        "publicize",
        "close_window",
        "verify",
        "approve",
        "evaluate",
        "announce",
        "record_exit",
    } <= triggers
    again = runner.invoke(args=["seed-demo", "--households", "36"])
    assert again.exit_code == 0 and "already loaded" in again.output
    assert db.session.scalar(select(func.count()).select_from(Case)) == 36
    audit = runner.invoke(args=["verify-audit"])
    assert audit.exit_code == 0, audit.output


def test_verify_audit_fails_with_the_first_bad_record(runner):
    runner.invoke(args=["seed-demo", "--households", "12", "--advance-to", "appraised"])
    tamper("UPDATE audit_records SET trigger='approve' WHERE seq=3")
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 1 and "record 3 was altered" in result.output


def test_unknown_advance_state_and_missing_region_fail_cleanly(runner):
    result = runner.invoke(args=["seed-demo", "--households", "5", "--advance-to", "heaven"])
    assert result.exit_code == 1 and "unknown state heaven" in result.output
    result = runner.invoke(
        args=["create-user", "x1", "--role", "village", "--password", "Abcdefgh-123"]
    )
    assert result.exit_code == 1 and "--region" in result.output
    result = runner.invoke(args=["sweep", "--dry-run"])
    assert result.exit_code == 0 and "0 window(s) due" in result.output


def test_fake_clock_is_refused_in_production(tmp_path):
    with pytest.raises(ConfigurationError):
        create_app(
            {
                "INSTANCE_PATH": str(tmp_path),
                "EXITFLOW_ENV": "production",
                "EXITFLOW_ALLOW_FAKE_CLOCK": "1",
                "EXITFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            }
        )


def test_clock_endpoint_absent_without_the_flag(tmp_path):
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "EXITFLOW_SECRET_KEY": "k",
            "EXITFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        }
    )
    with app.app_context():
        db.create_all()
        from workflow import clock
        from workflow.services import users

        users.configure("pbkdf2:sha256:1000")
        users.create("root", "Abcdefgh-123", "admin", None, None, clock.now())
        client = app.test_client()
        token = client.post(
            "/api/v1/auth/token", json={"username": "root", "password": "Abcdefgh-123"}
        ).get_json()
        r = client.put(
            "/api/v1/testing/clock",
            json={"now": "2019-01-01T00:00:00+08:00"},
            headers={"Authorization": f"Bearer {token['token']}"},
        )
        assert r.status_code == 404
        with pytest.raises(PermissionError):
            clock.set_fake_now(None)
        db.session.remove()
