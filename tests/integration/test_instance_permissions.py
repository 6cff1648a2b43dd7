"""instance/ holds the keys and the SQLite database: folder 0700, files 0600, from the start."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from workflow import clock, create_app
from workflow.config import instance_permission_problems, write_private
from workflow.extensions import db


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask(monkeypatch):
    """The usual umask (022), under which files are created world-readable by default."""
    for key in ("EXITFLOW_DATABASE_URL", "EXITFLOW_SECRET_KEY", "EXITFLOW_DATA_KEY"):
        monkeypatch.delenv(key, raising=False)
    old = os.umask(0o022)
    yield
    os.umask(old)
    clock.configure(False)


def test_a_new_instance_is_private_from_the_start(tmp_path, loose_umask):
    folder = tmp_path / "deploy" / "instance"
    app = create_app({"INSTANCE_PATH": str(folder)})
    with app.app_context():
        db.session.execute(text("CREATE TABLE probe (x INTEGER)"))
        db.session.execute(text("INSERT INTO probe VALUES (1)"))
        db.session.commit()
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        files = {p.name: mode(p) for p in folder.iterdir()}
        db.session.remove()
        db.engine.dispose()
    assert mode(folder) == 0o700
    assert {"secret_key", "data_key", "exitflow.db", "exitflow.db-wal", "exitflow.db-shm"} <= set(
        files
    )
    assert {name: m for name, m in files.items()} == {name: 0o600 for name in files}
    assert instance_permission_problems(folder) == []


def test_an_existing_folder_of_ours_is_tightened(tmp_path, loose_umask):
    folder = tmp_path / "instance"
    folder.mkdir()
    folder.chmod(0o755)  # as a checkout creates it
    create_app({"INSTANCE_PATH": str(folder)})
    assert mode(folder) == 0o700
    assert mode(folder / "secret_key") == 0o600 and mode(folder / "data_key") == 0o600


def test_an_existing_database_file_is_left_as_it_is(tmp_path, loose_umask):
    folder = tmp_path / "instance"
    folder.mkdir(mode=0o700)
    db_file = tmp_path / "shared.db"
    db_file.touch(mode=0o640)
    db_file.chmod(0o640)
    create_app({"INSTANCE_PATH": str(folder), "EXITFLOW_DATABASE_URL": f"sqlite:///{db_file}"})
    assert mode(db_file) == 0o640
    fresh = tmp_path / "fresh.db"
    create_app({"INSTANCE_PATH": str(folder), "EXITFLOW_DATABASE_URL": f"sqlite:///{fresh}"})
    assert mode(fresh) == 0o600


def test_the_doctor_check_names_what_others_could_read(tmp_path):
    assert instance_permission_problems(tmp_path / "nowhere") == [
        f"实例目录 {tmp_path / 'nowhere'} 不存在"
    ]
    folder = tmp_path / "instance"
    folder.mkdir()
    folder.chmod(0o755)
    for name, m in [
        ("secret_key", 0o644),
        ("data_key", 0o600),
        ("exitflow.db", 0o640),
        ("exitflow.db-wal", 0o604),
        ("scheduler.lock", 0o644),  # no secret in a lock file
        ("config.py", 0o600),
    ]:
        (folder / name).write_text("x")
        (folder / name).chmod(m)
    problems = instance_permission_problems(folder)
    assert len(problems) == 4, problems
    assert "0755" in problems[0] and "0700" in problems[0]
    assert [p.split()[1].rsplit("/", 1)[1] for p in problems[1:]] == [
        "exitflow.db",
        "exitflow.db-wal",
        "secret_key",
    ]
    assert all("应为 0600" in p for p in problems[1:])


def test_a_private_file_is_written_once(tmp_path, loose_umask):
    path = tmp_path / "key"
    assert write_private(path, "first") is True
    assert write_private(path, "second") is False
    assert path.read_text() == "first" and mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary file left
