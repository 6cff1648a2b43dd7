"""Period rules of publicity windows and deadlines: when a period of N days ends.

All reckoning is in Asia/Shanghai local dates; the result is an aware UTC time.
Working days follow the State Council's yearly holiday schedule (放假安排),
adjusted working weekends (调休) included: the `chinesecalendar` package's data,
plus any year a deployment registers (e.g. instance/holidays/2027.toml once the
schedule is published). A year with no data is an error, never a guess.
"""

from __future__ import annotations

import enum
import tomllib
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
_registered: dict[int, tuple[frozenset[date], frozenset[date]]] = {}


class HolidayDataMissing(Exception):
    """No holiday schedule is known for a year the period touches."""

    def __init__(self, year: int):
        self.year = year
        super().__init__(
            f"没有 {year} 年的节假日安排数据,无法计算期限 (no holiday schedule for {year})"
        )


class PeriodRule(enum.StrEnum):
    """How the days of a period are counted (DOMAIN.md, Publicity windows)."""

    CIVIL_CODE = "civil_code"
    INCLUSIVE_DAYS = "inclusive_days"
    WORKING_DAYS = "working_days"


@dataclass(frozen=True)
class Period:
    """A period: posting date, first and last counted day, and the closing moment (UTC)."""

    posted_on: date
    first_day: date
    last_day: date
    closes_at: datetime


# Periods by (posting date, days, rule): a batch of ten thousand cases asks for the
# same few. Forgotten whenever the holiday data changes (a period computed while it
# changed is not kept); errors are never kept.
_periods: dict[tuple[date, int, PeriodRule], Period] = {}
_PERIODS_MAX = 4096
_generation = [0]


def _forget_periods() -> None:
    _generation[0] += 1
    _periods.clear()


def register_year(year: int, holidays: Iterable[date], workdays: Iterable[date]) -> None:
    """Add the schedule of a year the library lacks: statutory holidays and 调休 workdays."""
    holidays, workdays = frozenset(holidays), frozenset(workdays)
    for day in holidays | workdays:
        if day.year != year:
            raise ValueError(f"{day.isoformat()} is not in {year}")
    both = holidays & workdays
    if both:
        raise ValueError(f"{sorted(both)[0].isoformat()} is both a holiday and a workday")
    _registered[year] = (holidays, workdays)
    _forget_periods()


def load_holiday_file(path) -> int:
    """Load a TOML schedule (year = 2027, holidays = [...], workdays = [...]); returns the year."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: {err}") from None
    unknown = set(data) - {"year", "holidays", "workdays", "source"}
    if unknown or not isinstance(data.get("year"), int):
        raise ValueError(f"{path}: needs an integer `year` (unknown keys: {sorted(unknown)})")

    def days(key: str) -> list[date]:
        values = data.get(key, [])
        if not all(isinstance(v, date) and not isinstance(v, datetime) for v in values):
            raise ValueError(f"{path}: `{key}` must be a list of dates (2027-01-01)")
        return values

    try:
        register_year(data["year"], days("holidays"), days("workdays"))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return data["year"]


def clear_registered_years() -> None:
    """Forget registered years (tests)."""
    _registered.clear()
    _forget_periods()


def is_working_day(day: date) -> bool:
    """A working day by the State Council schedule (调休 weekends count as working days)."""
    if day.year in _registered:
        holidays, workdays = _registered[day.year]
        if day in workdays:
            return True
        return day.weekday() < 5 and day not in holidays
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        raise HolidayDataMissing(day.year) from None


def _midnight_after(day: date) -> datetime:
    """24:00 local of `day`, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


def publicity_period(opened_at: datetime, days: int, rule: str | PeriodRule) -> Period:
    """The period of `days` days from `opened_at` under a rule."""
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must be timezone-aware")
    if not isinstance(days, int) or days < 1:
        raise ValueError("a period has at least one day")
    try:
        rule = PeriodRule(rule)
    except ValueError:
        raise ValueError(f"unknown period rule {rule!r}") from None
    posted = opened_at.astimezone(SHANGHAI).date()
    key = (posted, days, rule)
    period = _periods.get(key)
    if period is None:
        generation = _generation[0]
        period = _period(posted, days, rule)
        if len(_periods) >= _PERIODS_MAX:
            _periods.clear()
        if generation == _generation[0]:
            _periods[key] = period
    return period


def _period(posted: date, days: int, rule: PeriodRule) -> Period:
    """The period of `days` days posted on a local date (HolidayDataMissing: no data)."""
    if rule is PeriodRule.CIVIL_CODE:
        # 《民法典》第二百零一条: the day the period starts is not counted; 第二百零三条:
        # a last day that is a statutory holiday (or rest day) moves to the day after
        # it ends, and the period ends at 24:00 of that day.
        first, last = posted + timedelta(days=1), posted + timedelta(days=days)
        while not is_working_day(last):
            last += timedelta(days=1)
    elif rule is PeriodRule.INCLUSIVE_DAYS:
        first, last = posted, posted + timedelta(days=days - 1)
    else:
        first = posted + timedelta(days=1)
        while not is_working_day(first):
            first += timedelta(days=1)
        last, counted = first, 1
        while counted < days:
            last += timedelta(days=1)
            if is_working_day(last):
                counted += 1
    return Period(posted_on=posted, first_day=first, last_day=last, closes_at=_midnight_after(last))


def closing_time(opened_at: datetime, days: int, rule: str | PeriodRule) -> datetime:
    """When a period closes (aware UTC): 24:00 local of its last day."""
    return publicity_period(opened_at, days, rule).closes_at


def format_cn_date(day: date) -> str:
    """A date as printed on notices: 2019年11月1日 (no leading zeros)."""
    return f"{day.year}年{day.month}月{day.day}日"
