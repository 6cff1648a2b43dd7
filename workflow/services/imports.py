"""Importing households from CSV or XLSX: all rows or none; errors name row and column."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from states.identity import id_number_problem, normalize_id_number
from workflow import personal_data
from workflow.errors import ValidationFailed
from workflow.extensions import db
from workflow.models import Household, Region
from workflow.services import households
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
# Column headers, Chinese or English; members as “姓名/关系/身份证号;…”.
COLUMNS = {
    "village_code": ("村代码", "village_code"),
    "group": ("村民小组", "group"),
    "head_name": ("户主姓名", "head_name"),
    "head_id_number": ("户主身份证号", "head_id_number"),
    "poverty_cause": ("致贫原因", "poverty_cause"),
    "members": ("家庭成员", "members"),
}
REQUIRED = ("village_code", "group", "head_name", "head_id_number")
TEMPLATE_HEADER = [names[0] for names in COLUMNS.values()]


class ImportFailed(ValidationFailed):
    """The file was refused; `errors` lists row, column and message."""

    def __init__(self, detail: str, problems: list[dict]):
        super().__init__(detail)
        self.extra = {"errors": problems, "imported": 0}


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFailed(
        "文件编码无法识别(请用 UTF-8 或 GB18030)",
        [{"row": 0, "column": "", "message": "unknown text encoding"}],
    )


def read_rows(filename: str, raw: bytes) -> list[dict]:
    """The rows of a CSV or XLSX file as dicts keyed by our column names (row 2 = first)."""
    if len(raw) > MAX_BYTES:
        raise ImportFailed(
            f"文件过大(上限 {MAX_BYTES // 1024 // 1024} MB)",
            [{"row": 0, "column": "", "message": "file too large"}],
        )
    if filename.lower().endswith(".xlsx"):
        table = _xlsx(raw)
    elif filename.lower().endswith(".csv"):
        table = list(csv.reader(io.StringIO(_decode(raw))))
    else:
        raise ImportFailed(
            "只接受 .csv 或 .xlsx 文件", [{"row": 0, "column": "", "message": "not .csv or .xlsx"}]
        )
    if not table:
        raise ImportFailed("文件为空", [{"row": 0, "column": "", "message": "empty"}])
    if len(table) - 1 > MAX_ROWS:
        raise ImportFailed(
            f"行数过多(上限 {MAX_ROWS})", [{"row": 0, "column": "", "message": "too many rows"}]
        )
    header = [str(h or "").strip() for h in table[0]]
    names = {}
    for key, aliases in COLUMNS.items():
        for i, h in enumerate(header):
            if h in aliases:
                names[key] = i
    missing = [COLUMNS[k][0] for k in REQUIRED if k not in names]
    if missing:
        raise ImportFailed(
            "缺少必需的列", [{"row": 1, "column": m, "message": "missing column"} for m in missing]
        )
    rows = []
    for line in table[1:]:
        if not any(str(v or "").strip() for v in line):
            rows.append(None)  # a blank row keeps the numbering
            continue
        rows.append(
            {
                k: (str(line[i]).strip() if i < len(line) and line[i] is not None else "")
                for k, i in names.items()
            }
        )
    return rows


def _xlsx(raw: bytes) -> list[list]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise ImportFailed(
            "无法读取 XLSX 文件", [{"row": 0, "column": "", "message": f"not a valid xlsx: {err}"}]
        ) from None
    sheet = book.worksheets[0]
    table = [list(row) for row in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2)]
    book.close()
    return table


def _members(text: str, row: int, problems: list) -> list[dict]:
    out = []
    for part in filter(None, (p.strip() for p in text.replace(";", ";").split(";"))):
        bits = [b.strip() for b in part.replace("/", "/").split("/")]
        if len(bits) != 3:
            problems.append(
                {"row": row, "column": "家庭成员", "message": f"“{part}”应为 姓名/关系/身份证号"}
            )
            continue
        out.append({"name": bits[0], "relation": bits[1], "id_number": bits[2]})
    return out


def validate(actor: Actor, rows: list[dict | None]) -> tuple[list[dict], list[dict]]:
    """Household values and every problem found (row numbers as in the spreadsheet)."""
    problems: list[dict] = []
    values, seen = [], {}
    villages = {
        r.code: r
        for r in db.session.scalars(
            select(Region).where(
                Region.level == "village", Region.path.startswith(actor.region_path)
            )
        )
    }
    for offset, row in enumerate(rows):
        number = offset + 2
        if row is None:
            continue
        for key, text in row.items():
            if text.startswith(("=", "+", "@")) or (text.startswith("-") and key != "members"):
                problems.append(
                    {
                        "row": number,
                        "column": COLUMNS[key][0],
                        "message": "不接受公式 (formulas are refused)",
                    }
                )
        for key in REQUIRED:
            if not row.get(key):
                problems.append({"row": number, "column": COLUMNS[key][0], "message": "必填"})
        if row.get("village_code") and row["village_code"] not in villages:
            problems.append(
                {"row": number, "column": "村代码", "message": "村不存在或不在您的辖区"}
            )
        members = _members(row.get("members", ""), number, problems)
        for label, value in [("户主身份证号", row.get("head_id_number", ""))] + [
            ("家庭成员", m["id_number"]) for m in members
        ]:
            problem = id_number_problem(value) if value else None
            if problem:
                problems.append({"row": number, "column": label, "message": problem})
                continue
            key = normalize_id_number(value)
            if key and key in seen:
                problems.append(
                    {
                        "row": number,
                        "column": label,
                        "message": f"与第 {seen[key]} 行的身份证号重复",
                    }
                )
            elif key:
                seen[key] = number
        values.append(
            {
                "village_code": row.get("village_code"),
                "group": row.get("group"),
                "head_name": row.get("head_name"),
                "head_id_number": row.get("head_id_number", ""),
                "poverty_cause": row.get("poverty_cause") or None,
                "members": members,
                "_row": number,
            }
        )
    heads = {
        personal_data.index(normalize_id_number(v["head_id_number"])): v["_row"]
        for v in values
        if not id_number_problem(v["head_id_number"])
    }
    if heads:
        for taken in db.session.scalars(
            select(Household.head_id_hash).where(Household.head_id_hash.in_(list(heads)))
        ):
            problems.append(
                {"row": heads[taken], "column": "户主身份证号", "message": "该户主已登记"}
            )
    return values, sorted(problems, key=lambda p: (p["row"], p["column"]))


def import_households(
    actor: Actor,
    filename: str,
    raw: bytes,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Register every household of the file, or none; returns how many."""
    if actor.role not in households.WRITERS:
        from workflow.errors import Forbidden

        raise Forbidden("您的角色不能导入贫困户")
    values, problems = validate(actor, read_rows(filename, raw))
    if problems:
        raise ImportFailed(f"文件有 {len(problems)} 处错误,未导入任何数据", problems[:1000])
    for i, v in enumerate(values, start=1):
        v.pop("_row")
        households.create(actor, v, now, commit=False)
        if progress and (i % 200 == 0 or i == len(values)):
            progress(i, len(values))
    db.session.commit()
    logger.info("imported %d household(s) from %s by %s", len(values), filename, actor.username)
    return len(values)


def template_csv() -> bytes:
    """A CSV template with the documented columns and one example row (UTF-8 with BOM)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TEMPLATE_HEADER)
    from datetime import date

    from states.identity import make_id_number

    writer.writerow(
        [
            "451099100200",
            "1组",
            "韦国强",
            make_id_number("451099", date(1960, 3, 1), 1),
            "因病",
            f"覃秀英/配偶/{make_id_number('451099', date(1962, 5, 1), 2)}",
        ]
    )
    return out.getvalue().encode("utf-8-sig")
