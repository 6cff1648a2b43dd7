"""exitflow doctor: one line per check, exit 1 when one fails."""

from __future__ import annotations

import os
from pathlib import Path

from tests.factories import add_household


def test_doctor_names_each_check_and_fails_on_what_is_wrong(app, runner, world):
    add_household(world["village1"])
    result = runner.invoke(args=["doctor"])
    lines = result.output.splitlines()
    names = [line[5:].split(":")[0] for line in lines]
    assert names == [
        "database",
        "migrations",
        "data key",
        "CJK fonts",
        "font subsetting",
        "holiday data",
        "scheduler",
        "instance permissions",
        "free disk",
    ]
    # The tests build their schema without migrations: that is a failure doctor names.
    assert result.exit_code == 1 and "FAIL migrations: no schema" in result.output
    assert "ok   data key: decrypts the stored ID numbers" in result.output
    assert "ok   instance permissions" in result.output
    folder = Path(app.instance_path)
    os.chmod(folder, 0o755)
    (folder / "secret_key").write_text("x")
    os.chmod(folder / "secret_key", 0o644)
    again = runner.invoke(args=["doctor"])
    assert "FAIL instance permissions" in again.output and "secret_key" in again.output
