"""Importing households from CSV or XLSX: all rows or none; errors name row and column."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import zipfile
import zlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from states.identity import id_number_problem, mask_id_number, normalize_id_number
from workflow import personal_data
from workflow.errors import ValidationFailed
from workflow.extensions import db
from workflow.inputs import text_problem
from workflow.models import Region
from workflow.services import audit, households
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
MAX_COLUMNS = 50
CSV_FIELD_LIMIT = 128 * 1024  # a longer CSV field refuses the file, naming its row
MAX_MEMBERS = 30  # as the API (HouseholdIn)
# The longest text each column's cell may hold (the columns' sizes; an ID number gets
# its own, more precise message up to 50).
CELL_MAX = {
    "village_code": 12,
    "group": 50,
    "head_name": 50,
    "head_id_number": 50,
    "poverty_cause": 100,
    "members": 3000,
}
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


def _refuse(detail: str, row: int = 0, column: str = "", message: str | None = None):
    """The whole file refused for one reason (row 0: the file as such)."""
    return ImportFailed(detail, [{"row": row, "column": column, "message": message or detail}])


def read_rows(filename: str, raw: bytes) -> list[dict]:
    """The rows of a CSV or XLSX file as dicts keyed by our column names (row 2 = first).

    Bounded before anything is kept: the file's size (MAX_BYTES), its rows (MAX_ROWS),
    columns (MAX_COLUMNS) and fields (CSV_FIELD_LIMIT); an XLSX is screened first
    (`check_xlsx`). Every cell we read is checked like the API's text (CELL_MAX, no
    control or bidirectional characters), each problem by row and column.
    """
    if problem := text_problem(filename, 255):  # the name is logged and shown
        raise _refuse(f"文件名{problem}")
    if len(raw) > MAX_BYTES:
        raise ImportFailed(
            f"文件过大(上限 {MAX_BYTES // 1024 // 1024} MB)",
            [{"row": 0, "column": "", "message": "file too large"}],
        )
    if filename.lower().endswith(".xlsx"):
        table = _xlsx(raw)
    elif filename.lower().endswith(".csv"):
        table = _csv(raw)
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
    rows, problems = [], []
    for number, line in enumerate(table[1:], start=2):
        if not any(str(v or "").strip() for v in line):
            rows.append(None)  # a blank row keeps the numbering
            continue
        row = {
            k: (str(line[i]).strip() if i < len(line) and line[i] is not None else "")
            for k, i in names.items()
        }
        for key, text in row.items():
            if problem := text_problem(text, CELL_MAX[key]):
                problems.append({"row": number, "column": COLUMNS[key][0], "message": problem})
        rows.append(row)
    if problems:
        raise ImportFailed(f"文件有 {len(problems)} 处错误,未导入任何数据", problems[:1000])
    return rows


def _csv(raw: bytes) -> list[list[str]]:
    """The CSV's records, refused by row at the first one too long or too wide."""
    csv.field_size_limit(CSV_FIELD_LIMIT)  # the module's default, stated: never raised
    table: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(_decode(raw))):
            row = len(table) + 1
            if len(record) > MAX_COLUMNS:
                raise _refuse(f"第 {row} 行有 {len(record)} 列,超过上限 {MAX_COLUMNS} 列", row)
            table.append(record)
            if len(table) - 1 > MAX_ROWS:
                raise _refuse(f"行数过多(上限 {MAX_ROWS})", message="too many rows")
    except csv.Error as err:
        row = len(table) + 1
        too_long = "field limit" in str(err)
        raise _refuse(
            f"第 {row} 行有单元格超过 {CSV_FIELD_LIMIT // 1024} KB,未导入任何数据"
            if too_long
            else f"第 {row} 行无法按 CSV 格式读取,未导入任何数据",
            row,
        ) from None
    return table


def _xlsx(raw: bytes) -> list[list]:
    from openpyxl import load_workbook

    check_xlsx(raw)
    book = None
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
        sheet = book.worksheets[0]
        width = min(sheet.max_column or MAX_COLUMNS, MAX_COLUMNS)
        return [
            list(row)
            for row in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2, max_col=width)
        ]
    except ImportFailed:
        raise
    except Exception as err:  # noqa: BLE001 - openpyxl fails in many ways on a foreign file
        logger.info("unreadable xlsx: %r", err)
        raise ImportFailed(
            "无法读取 XLSX 文件", [{"row": 0, "column": "", "message": f"not a valid xlsx: {err}"}]
        ) from None
    finally:
        if book is not None:
            book.close()


# XLSX screening: a DTD (entity expansion, external entities) in any part, a declared
# or actual sheet larger than the import allows (openpyxl pads every row to the
# declared width), a zip bomb. Streamed: no part is held in memory whole.
XLSX_MAX_PARTS = 1000
# Every part together, as declared in the zip (zipfile never inflates past it); a
# full 50,000-row import is about 20 MB.
XLSX_MAX_UNCOMPRESSED = 64 * 1024 * 1024
XLSX_MAX_RATIO = 100  # uncompressed / compressed, for a part over 1 MB (real sheets: 10-20)
_CHUNK = 64 * 1024
_OVERLAP = 32
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']{0,40})["']""")
_WORKSHEET = re.compile(rb"<(?:\w{1,16}:)?worksheet[\s>]")
_DIMENSION = re.compile(
    rb"""<(?:\w{1,16}:)?dimension\s+ref\s*=\s*["']\$?([A-Za-z]{0,4})\$?(\d{0,10})"""
    rb"""(?::\$?([A-Za-z]{1,4})\$?(\d{1,10}))?["']"""
)
_ROW = re.compile(rb"<(?:\w{1,8}:)?row[\s>/]")
_WIDE_CELL = re.compile(rb"""\br\s{0,3}=\s{0,3}["']([A-Z]{2,3})\d""")


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + ch - 64
    return number


def check_xlsx(raw: bytes) -> None:
    """Refuse (422, in Chinese) an XLSX that is unsafe or too large to read, cheaply."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise _refuse("无法读取 XLSX 文件", message=f"not a valid xlsx: {err}") from None
    with archive:
        parts = archive.infolist()
        if len(parts) > XLSX_MAX_PARTS:
            raise _refuse(f"XLSX 文件内部条目过多(上限 {XLSX_MAX_PARTS} 个)")
        if sum(p.file_size for p in parts) > XLSX_MAX_UNCOMPRESSED:
            raise _refuse(f"XLSX 文件解压后过大(上限 {XLSX_MAX_UNCOMPRESSED // 1024 // 1024} MB)")
        for part in parts:
            if part.file_size > 1024 * 1024 and part.file_size > XLSX_MAX_RATIO * max(
                part.compress_size, 1
            ):
                raise _refuse(f"XLSX 文件的压缩比异常({part.filename}),疑为压缩炸弹")
        try:
            for part in parts:
                if not part.is_dir():
                    _scan_part(archive, part)
        except ImportFailed:
            raise
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError,
                EOFError, ValueError) as err:  # fmt: skip
            raise _refuse("无法读取 XLSX 文件", message=f"not a valid xlsx: {err}") from None


def _scan_part(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> None:
    """One part, streamed: no DTD, UTF-8 if XML, and a worksheet within the limits."""
    name = part.filename
    rows, tail, first = 0, b"", True
    sheet = False
    with archive.open(part) as stream:
        while chunk := stream.read(_CHUNK):
            if first:
                first = False
                head = chunk[:1024]
                if (
                    head.startswith((b"\xfe\xff", b"\xff\xfe"))
                    or b"\x00" in head[:4]
                    and (b"<" in head[:4])
                ):  # UTF-16 or UTF-32: the DTD scan below reads UTF-8 only
                    raise _refuse(f"XLSX 文件的 XML 须为 UTF-8 编码({name})")
                declared = _ENCODING.match(head.removeprefix(b"\xef\xbb\xbf"))
                if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
                    raise _refuse(f"XLSX 文件的 XML 须为 UTF-8 编码({name})")
                sheet = _WORKSHEET.search(chunk) is not None
                if sheet:
                    _check_dimension(chunk)
            buffer = tail + chunk
            if _DTD.search(buffer):
                raise _refuse(f"XLSX 文件含有 DTD 声明(<!DOCTYPE/<!ENTITY),拒绝读取({name})")
            if sheet:
                rows += sum(1 for m in _ROW.finditer(buffer) if m.end() > len(tail))
                if rows > MAX_ROWS + 1:
                    raise _refuse(
                        f"工作表行数过多(上限 {MAX_ROWS} 行数据)", message="too many rows"
                    )
                for m in _WIDE_CELL.finditer(buffer):
                    if _column_number(m.group(1)) > MAX_COLUMNS:
                        raise _refuse(
                            f"工作表列数过多(上限 {MAX_COLUMNS} 列):有单元格在 "
                            f"{m.group(1).decode()} 列"
                        )
            tail = buffer[-_OVERLAP:]


def _check_dimension(head: bytes) -> None:
    """The sheet's declared size (`<dimension ref="A1:F51"/>`, near its start)."""
    found = _DIMENSION.search(head)
    if not found:
        return
    first_col, first_row, last_col, last_row = found.groups()
    last_col, last_row = (last_col or first_col), (last_row or first_row)
    columns = _column_number(last_col) if last_col else 0
    rows = int(last_row) if last_row else 0
    if rows > MAX_ROWS + 1 or columns > MAX_COLUMNS:
        ref = found.group(0).split(b"=", 1)[1].strip(b"\"' ").decode()
        raise _refuse(
            f"工作表声明的范围 {ref} 过大(上限 {MAX_ROWS} 行数据、{MAX_COLUMNS} 列),"
            "请删除多余的行和列后再导入"
        )


def _members(text: str, row: int, problems: list) -> list[dict]:
    out = []
    for part in filter(None, (p.strip() for p in text.replace(";", ";").split(";"))):
        bits = [b.strip() for b in part.replace("/", "/").split("/")]
        if len(bits) != 3:
            problems.append(
                {"row": row, "column": "家庭成员", "message": f"“{part}”应为 姓名/关系/身份证号"}
            )
            continue
        if not (1 <= len(bits[0]) <= 50 and 1 <= len(bits[1]) <= 20):  # as the API's MemberIn
            problems.append(
                {
                    "row": row,
                    "column": "家庭成员",
                    "message": f"“{part[:60]}”的姓名须为 1 至 50 个字,关系须为 1 至 20 个字",
                }
            )
            continue
        out.append({"name": bits[0], "relation": bits[1], "id_number": bits[2]})
    if len(out) > MAX_MEMBERS:
        problems.append(
            {"row": row, "column": "家庭成员", "message": f"家庭成员最多 {MAX_MEMBERS} 人"}
        )
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
    return values, sorted(problems, key=lambda p: (p["row"], p["column"]))


def screen(actor: Actor, values: list[dict], raw: bytes, now: datetime) -> list[dict]:
    """The heads already registered, checked for the whole file in one query.

    Only a file with no other problem gets here, so a refused file never answers
    whether a number is registered. A duplicate the caller may read in full (its
    own village or township) is named by row and household; any other refuses the
    file with one fixed answer naming no row and no number, the same whichever and
    however many rows matched (see services/households.py: audited, probe lock).
    Before that, heads that share a masked form with someone the caller may not see
    are counted as near misses (`households.screen_near_misses`, one more query),
    whatever the file's answer: an account over the limit is locked then and there.
    """
    heads: dict[str, int] = {}  # keyed hash of each head's ID number: its row
    masked: dict[str, str] = {}  # and its masked form
    for v in values:
        number = normalize_id_number(v["head_id_number"])
        key = personal_data.index(number)
        heads[key], masked[key] = v["_row"], mask_id_number(number)
    details = {"file_sha256": hashlib.sha256(raw).hexdigest(), "rows": len(values)}
    households.screen_near_misses(actor, masked, now, "import", details)
    hits = households.screen_duplicates(
        actor, heads, now, "import", ImportFailed(households.REFUSED_IMPORT, []), details
    )
    return sorted(
        (
            {
                "row": heads[taken],
                "column": "户主身份证号",
                "message": f"该户主已登记(贫困户 {hit.household_id},村代码 {hit.village_code})",
            }
            for taken, hit in hits.items()
        ),
        key=lambda p: p["row"],
    )


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
    # A probe pattern refuses the file whatever else it holds, before the register is read.
    households.screen_pattern(
        actor,
        households.id_numbers(values),
        now,
        "import",
        ImportFailed(households.PATTERN_IMPORT, []),
        {"file_sha256": hashlib.sha256(raw).hexdigest(), "rows": len(values)},
    )
    if not problems:
        problems = screen(actor, values, raw, now)
    if problems:
        raise ImportFailed(f"文件有 {len(problems)} 处错误,未导入任何数据", problems[:1000])
    villages: dict[str, int] = {}
    for i, v in enumerate(values, start=1):
        v.pop("_row")
        households.create(actor, v, now, commit=False, screened=True)
        villages[v["village_code"]] = villages.get(v["village_code"], 0) + 1
        if progress and (i % 200 == 0 or i == len(values)):
            progress(i, len(values))
    audit.record_event(
        "import_households",
        actor,
        now,
        {
            "households": len(values),
            "members": sum(len(v["members"]) for v in values),
            "villages": villages,
            "file_sha256": hashlib.sha256(raw).hexdigest(),
        },
        kind="household",
        region_path=actor.region_path,
    )
    households.commit_registrations(ImportFailed(households.RACED, []))
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
