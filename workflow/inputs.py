"""Rules every piece of user input obeys, on every path (API, web forms, imports).

Text: bounded length, no control characters and no bidirectional overrides
(U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C reorder what a page or a
printed notice shows), no lone surrogates (a JSON "\\ud800" escape: no database
can store it); every CJK character, extensions included, is welcome.
Integers: within the range of the column they are stored in.
"""

from __future__ import annotations

import re

# 32-bit signed columns (ids, years, counts, versions).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Any year a filter may name; cases and evaluations are opened for 2011 (the 2011
# poverty line) to 2100.
YEAR_MIN, YEAR_MAX = 2000, 2100
# Money in yuan (per capita a year): finite, 0 to ten million.
MONEY_MAX = 10_000_000

# C0 controls but tab/newline/carriage return, DEL, C1 controls, the bidi
# embeddings/overrides/isolates and marks, the byte-order mark mid-text, and lone
# surrogates (a pair in the text is one character, U+10000 and up, and welcome).
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
    "\ud800-\udfff]"
)
_FORBIDDEN_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)

DEFAULT_MAX = 2000


def text_problem(value: str, max_length: int = DEFAULT_MAX, multiline: bool = False) -> str | None:
    """Why a text is refused (in Chinese), or None when it is acceptable."""
    if len(value) > max_length:
        return f"长度不能超过 {max_length} 个字符"
    match = (_FORBIDDEN if multiline else _FORBIDDEN_ONE_LINE).search(value)
    if match:
        return f"含有不允许的控制字符或方向控制字符 (U+{ord(match.group()):04X})"
    return None


def int_problem(value: int, low: int = INT_MIN, high: int = INT_MAX) -> str | None:
    """Why an integer is refused (out of its column's range), or None."""
    if not low <= value <= high:
        return f"数值须在 {low} 到 {high} 之间"
    return None


def parse_int(raw: str | None, low: int = INT_MIN, high: int = INT_MAX) -> int | None:
    """A form or query-string integer within range, or None when absent, non-numeric or out of range."""
    if raw is None:
        return None
    raw = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,12}", raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None
