"""Importing households: valid files all in, malformed files nothing in, errors by row/column."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from states.identity import make_id_number
from tests.factories import PASSWORD, VILLAGE
from workflow.extensions import db
from workflow.models import Household

HEADER = "村代码,村民小组,户主姓名,户主身份证号,致贫原因,家庭成员\n"


def ident(n: int) -> str:
    return make_id_number("430623", date(1965, 1 + n % 12, 1 + n % 28), 700 + n)


def csv_rows(n: int, start: int = 0) -> str:
    return "".join(
        f"{VILLAGE},{i % 5 + 1}组,户主{i},{ident(i)},因病,家属{i}/配偶/{ident(i + 5000)}\n"
        for i in range(start, start + n)
    )


def post(client, filename, raw, username="village1"):
    token = client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    ).get_json()["token"]
    return client.post(
        "/api/v1/imports/households",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(raw), filename)},
    )


def households():
    return db.session.scalar(select(func.count()).select_from(Household))


def test_a_valid_csv_imports_every_row(client, world):
    r = post(client, "h.csv", (HEADER + csv_rows(30)).encode("utf-8-sig"))
    assert r.status_code == 201 and r.get_json()["imported"] == 30
    assert households() == 30
    assert db.session.scalar(select(func.sum(Household.size))) == 60


def test_a_gb18030_csv_and_an_xlsx(client, world):
    assert post(client, "gbk.csv", (HEADER + csv_rows(3)).encode("gb18030")).status_code == 201
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    for line in csv_rows(4, start=100).strip().split("\n"):
        sheet.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    r = post(client, "h.xlsx", buffer.getvalue())
    assert r.status_code == 201 and r.get_json()["imported"] == 4
    assert households() == 7


@pytest.mark.parametrize(
    "name,raw,row,column",
    [
        ("dup.csv", (HEADER + csv_rows(3) + csv_rows(1)).encode(), 5, "户主身份证号"),
        (
            "formula.csv",
            (HEADER + csv_rows(2) + f'{VILLAGE},1组,=HYPERLINK("x"),{ident(9)},,\n').encode(),
            4,
            "户主姓名",
        ),
        (
            "badid.csv",
            (HEADER + f"{VILLAGE},1组,甲,430623196501011235,,\n").encode(),
            2,
            "户主身份证号",
        ),
        ("foreign.csv", (HEADER + f"430623101201,1组,甲,{ident(1)},,\n").encode(), 2, "村代码"),
        (
            "member.csv",
            (HEADER + f"{VILLAGE},1组,甲,{ident(1)},,只有名字\n").encode(),
            2,
            "家庭成员",
        ),
        ("missing.csv", "村代码,户主姓名\n1,2\n".encode(), 1, "村民小组"),
        ("latin1.csv", (HEADER + f"{VILLAGE},1组,José,{ident(1)},,\n").encode("utf-16"), 0, ""),
        ("fake.xlsx", b"PK\x03\x04 not really a workbook", 0, ""),
        ("notes.txt", b"hello", 0, ""),
    ],
)
def test_malformed_files_import_nothing(client, world, name, raw, row, column):
    r = post(client, name, raw)
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["imported"] == 0
    assert {"row": row, "column": column} in [
        {"row": e["row"], "column": e["column"]} for e in body["errors"]
    ]
    assert households() == 0


def test_a_huge_file_is_refused(client, world, monkeypatch):
    from workflow.services import imports

    # The limit is 10 MB; a smaller one here keeps the upload in memory for the test.
    monkeypatch.setattr(imports, "MAX_BYTES", 20_000)
    r = post(client, "huge.csv", (HEADER + csv_rows(1000)).encode())
    assert r.status_code == 422 and r.get_json()["errors"][0]["message"] == "file too large"
    assert households() == 0


def test_already_registered_heads_are_reported(client, world):
    assert post(client, "a.csv", (HEADER + csv_rows(2)).encode()).status_code == 201
    r = post(client, "b.csv", (HEADER + csv_rows(3)).encode())
    assert r.status_code == 422
    assert [e["row"] for e in r.get_json()["errors"]] == [2, 3]
    assert households() == 2


def test_command_line_import_with_progress(runner, world, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(HEADER + csv_rows(250), encoding="utf-8")
    result = runner.invoke(args=["import-households", str(path), "--user", "township1"])
    assert result.exit_code == 0 and "imported 250" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + csv_rows(1, start=900) + csv_rows(1, start=900), encoding="utf-8")
    result = runner.invoke(args=["import-households", str(bad)])
    assert result.exit_code == 1 and "row 3, 户主身份证号" in result.output
    assert households() == 250
