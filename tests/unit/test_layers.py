"""Convention 1: one dependency direction between the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "states": {
        "flask",
        "flask_sqlalchemy",
        "sqlalchemy",
        "apscheduler",
        "weasyprint",
        "marshmallow",
        "workflow",
        "notices",
    },
    "notices": {"workflow", "flask", "flask_sqlalchemy", "sqlalchemy"},
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_lane(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    for path in files:
        bad = imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_identity_checksum_and_mask():
    from states.identity import id_number_problem, mask_id_number

    assert id_number_problem("11010519491231002X") is None
    assert id_number_problem("110105194912310021") == "身份证号校验位错误"
    assert id_number_problem("11010519491331002X") == "身份证号中的出生日期无效"
    assert id_number_problem("1101051949123100") is not None
    assert mask_id_number("430623196001011234") == "430623********1234"
