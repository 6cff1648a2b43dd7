"""Reading the pages' forms: every field checked, every problem in Chinese, by field.

A page reads its fields through a `Form`; when `form.errors` is not empty it renders
itself again with status 422, the user's input in the fields and each message next to
its field (`templates/web/_forms.html`). Values never travel in a URL.

The rules are those of workflow/inputs.py (lengths, control and bidirectional
characters, integer ranges); every CJK character, extensions included, is accepted.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import unquote

from workflow import clock
from workflow.inputs import INT_MAX, parse_int, text_problem

_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class Form:
    """The fields of one submitted form, read and checked one by one."""

    def __init__(self, data):
        self.data = data
        self.errors: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        """Record a problem of a field (the first one of each field is kept)."""
        self.errors.setdefault(name, message)

    def summary(self) -> str:
        """Every problem in one line, for the top of the page."""
        return ";".join(self.errors.values())

    def raw(self, name: str) -> str:
        return self.data.get(name, "") or ""

    def text(
        self,
        name: str,
        label: str,
        max_length: int = 2000,
        *,
        required: bool = False,
        multiline: bool = False,
        min_length: int = 0,
    ) -> str | None:
        """A text without surrounding blanks, or None when left empty."""
        value = self.raw(name).strip()
        if not value:
            if required:
                self.add(name, f"{label}不能为空")
            return None
        problem = text_problem(value, max_length, multiline)
        if problem:
            self.add(name, f"{label}{problem}")
            return None
        if len(value) < min_length:
            self.add(name, f"{label}至少需要 {min_length} 个字")
            return None
        return value

    def integer(
        self, name: str, label: str, low: int, high: int, *, required: bool = False
    ) -> int | None:
        """An integer within [low, high], or None when left empty."""
        raw = self.raw(name).strip()
        if not raw:
            if required:
                self.add(name, f"{label}不能为空")
            return None
        value = parse_int(raw, low, high)
        if value is None:
            self.add(name, f"{label}须为 {low} 到 {high} 之间的整数")
        return value

    def amount(self, name: str, label: str, high: int, *, required: bool = False) -> float | None:
        """A sum of money in yuan (0 to high, at most two decimals), or None when empty."""
        raw = self.raw(name).strip()
        if not raw:
            if required:
                self.add(name, f"{label}不能为空")
            return None
        if not _DECIMAL.fullmatch(raw) or float(raw) > high:
            self.add(name, f"{label}须为 0 到 {high} 之间的数字(最多两位小数)")
            return None
        return float(raw)

    def day(self, name: str, label: str, *, required: bool = True) -> str | None:
        """A YYYY-MM-DD date not after today (Asia/Shanghai), or None when empty."""
        raw = self.raw(name).strip()
        if not raw:
            if required:
                self.add(name, f"{label}不能为空")
            return None
        try:
            if not _DATE.fullmatch(raw):
                raise ValueError
            value = date.fromisoformat(raw)
        except ValueError:
            self.add(name, f"{label}须为有效日期(年-月-日)")
            return None
        if value > clock.local_today():
            self.add(name, f"{label}不能晚于今天")
            return None
        return raw

    def choice(self, name: str, label: str, choices, *, required: bool = False) -> str | None:
        """One of the choices, or None when left empty."""
        raw = self.raw(name)
        if raw == "":
            if required:
                self.add(name, f"请选择{label}")
            return None
        if raw not in choices:
            self.add(name, f"{label}的选项无效")
            return None
        return raw

    def ids(self, name: str, label: str) -> list[int]:
        """Every value of a repeated id field (checkboxes, hidden fields), each 1..2^31-1."""
        out = []
        for raw in self.data.getlist(name):
            value = parse_int(raw, 1, INT_MAX)
            if value is None:
                self.add(name, f"{label}有误,请刷新页面后重新选择")
                return []
            out.append(value)
        return out


def safe_next(target: str | None) -> str | None:
    """A same-site path to go to after signing in, or None.

    Only an absolute path: one "/" then anything but "/" or "\\", and no backslash and
    no control character anywhere, before or after percent-decoding. Nothing is
    stripped: a value that needs cleaning is refused.
    """
    if not target or not target.startswith("/"):
        return None
    for value in (target, unquote(target)):
        if value[1:2] in ("/", "\\") or "\\" in value or _CONTROL.search(value):
            return None
    return target
