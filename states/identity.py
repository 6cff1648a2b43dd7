"""Resident ID numbers (GB 11643-1999): checksum and masking."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_problem(value: str) -> str | None:
    """Why an ID number is invalid (shape, birth date, checksum), or None when valid."""
    value = (value or "").strip().upper()
    if not _SHAPE.match(value):
        return "身份证号应为18位,前17位为数字,最后一位为数字或X"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "身份证号中的出生日期无效"
    if born.year < 1900:
        return "身份证号中的出生日期无效"
    if check_digit(value[:17]) != value[17]:
        return "身份证号校验位错误"
    return None


def normalize_id_number(value: str) -> str:
    """Trimmed and upper-cased (the check character X)."""
    return (value or "").strip().upper()


def mask_id_number(value: str | None) -> str:
    """First 6 and last 4 digits only, e.g. 430623********1234 (DOMAIN.md)."""
    if not value:
        return ""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def make_id_number(region: str, born: date, sequence: int) -> str:
    """A valid ID number for demo and test data."""
    first17 = f"{region[:6]}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)
