"""exitflow backup and restore: the restored database is the backed-up one, chain intact."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from workflow.extensions import db
from workflow.models import AuditRecord, Case


@pytest.mark.parametrize("backend", ["sqlite"])
def test_backup_then_restore_verifies_the_chain(runner, tmp_path):
    assert (
        runner.invoke(
            args=["seed-demo", "--households", "24", "--advance-to", "appraised"]
        ).exit_code
        == 0
    )
    before = db.session.scalar(select(func.count()).select_from(AuditRecord))
    target = tmp_path / "backup.db"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0 and target.exists(), result.output
    db.session.remove()
    runner.invoke(args=["seed-demo", "--advance-to", "village_publicity"])
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)) > before
    db.session.remove()
    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"audit chain intact: {before} record(s)" in result.output
    assert set(db.session.scalars(select(Case.state))) == {"appraised"}


def test_postgres_backup_points_to_pg_dump(runner, backend):
    if backend != "postgres":
        result = runner.invoke(args=["restore", "/nonexistent.db", "--yes"])
        assert result.exit_code != 0
        return
    result = runner.invoke(args=["backup", "/tmp/x.db"])
    assert result.exit_code == 1 and "pg_dump" in result.output
