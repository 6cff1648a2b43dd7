"""Period rules, as tables: holidays, 调休, midnight, time zones, years without data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from states import calendar
from states.calendar import HolidayDataMissing, closing_time, format_cn_date, publicity_period

CASES = [
    # (opened_at, days, rule, first_day, last_day, closes_at UTC)
    (
        "2019-10-21T09:00:00+08:00",
        7,
        "civil_code",
        "2019-10-22",
        "2019-10-28",
        "2019-10-28T16:00:00+00:00",
    ),
    (
        "2019-11-01T10:00:00+08:00",
        7,
        "civil_code",
        "2019-11-02",
        "2019-11-08",
        "2019-11-08T16:00:00+00:00",
    ),
    # The last day, a Saturday, is a rest day: the period runs to Monday's 24:00.
    (
        "2019-11-02T10:00:00+08:00",
        7,
        "civil_code",
        "2019-11-03",
        "2019-11-11",
        "2019-11-11T16:00:00+00:00",
    ),
    # The last day falls in the National Day holiday (1-7 Oct 2019): to 8 Oct.
    (
        "2019-09-27T10:00:00+08:00",
        7,
        "civil_code",
        "2019-09-28",
        "2019-10-08",
        "2019-10-08T16:00:00+00:00",
    ),
    # Sunday 29 Sep 2019 is an adjusted working day (调休): the period ends there.
    (
        "2019-09-22T10:00:00+08:00",
        7,
        "civil_code",
        "2019-09-23",
        "2019-09-29",
        "2019-09-29T16:00:00+00:00",
    ),
    # Spring Festival 2024 (10-17 Feb); Sunday 18 Feb is a working day.
    (
        "2024-02-03T10:00:00+08:00",
        7,
        "civil_code",
        "2024-02-04",
        "2024-02-18",
        "2024-02-18T16:00:00+00:00",
    ),
    # Midnight: one second before is still the 21st, midnight is the 22nd.
    (
        "2019-10-21T23:59:59+08:00",
        7,
        "civil_code",
        "2019-10-22",
        "2019-10-28",
        "2019-10-28T16:00:00+00:00",
    ),
    (
        "2019-10-22T00:00:00+08:00",
        7,
        "civil_code",
        "2019-10-23",
        "2019-10-29",
        "2019-10-29T16:00:00+00:00",
    ),
    # Given in UTC or another offset, the day is the day in Shanghai.
    (
        "2019-10-21T16:30:00+00:00",
        7,
        "civil_code",
        "2019-10-23",
        "2019-10-29",
        "2019-10-29T16:00:00+00:00",
    ),
    (
        "2019-10-21T20:00:00-05:00",
        7,
        "civil_code",
        "2019-10-23",
        "2019-10-29",
        "2019-10-29T16:00:00+00:00",
    ),
    # A Shanxi county notice ran 2019年5月5日—11日: the day of posting is day 1.
    (
        "2019-05-05T08:00:00+08:00",
        7,
        "inclusive_days",
        "2019-05-05",
        "2019-05-11",
        "2019-05-11T16:00:00+00:00",
    ),
    # Five working days from Friday 27 Sep 2019: Sun 29 (调休), Mon 30, then 8-10 Oct.
    (
        "2019-09-27T10:00:00+08:00",
        5,
        "working_days",
        "2019-09-29",
        "2019-10-10",
        "2019-10-10T16:00:00+00:00",
    ),
    # Saturday 12 Oct 2019 is a working day.
    (
        "2019-10-11T10:00:00+08:00",
        5,
        "working_days",
        "2019-10-12",
        "2019-10-17",
        "2019-10-17T16:00:00+00:00",
    ),
]


@pytest.mark.parametrize("opened,days,rule,first,last,closes", CASES)
def test_period_table(opened, days, rule, first, last, closes):
    period = publicity_period(datetime.fromisoformat(opened), days, rule)
    assert period.first_day == date.fromisoformat(first)
    assert period.last_day == date.fromisoformat(last)
    assert period.closes_at == datetime.fromisoformat(closes)
    assert period.closes_at.tzinfo == UTC
    assert closing_time(datetime.fromisoformat(opened), days, rule) == period.closes_at


def test_a_year_without_holiday_data_is_an_error_not_a_guess():
    calendar.clear_registered_years()
    with pytest.raises(HolidayDataMissing) as err:
        publicity_period(datetime.fromisoformat("2026-12-28T10:00:00+08:00"), 7, "civil_code")
    assert err.value.year == 2027 and "2027" in str(err.value)


def test_a_registered_year_is_used(tmp_path):
    path = tmp_path / "2027.toml"
    path.write_text("year = 2027\nholidays = [2027-01-01, 2027-01-04]\nworkdays = []\n")
    try:
        assert calendar.load_holiday_file(path) == 2027
        period = publicity_period(
            datetime.fromisoformat("2026-12-28T10:00:00+08:00"), 7, "civil_code"
        )
        # 4 Jan 2027 declared a holiday in this file: the period runs to the 5th.
        assert period.last_day == date(2027, 1, 5)
    finally:
        calendar.clear_registered_years()


@pytest.mark.parametrize(
    "text,problem",
    [
        ("year = 2027\nholidays = [2026-12-31]\n", "not in 2027"),
        ("year = 2027\nholidays = [2027-01-01]\nworkdays = [2027-01-01]\n", "both"),
        ("holidays = []\n", "year"),
        ("year = 2027\nholidays = ['x']\n", "list of dates"),
    ],
)
def test_bad_holiday_files_are_refused(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        calendar.load_holiday_file(path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="aware"):
        publicity_period(datetime(2019, 10, 21, 9), 7, "civil_code")
    with pytest.raises(ValueError):
        publicity_period(datetime.fromisoformat("2019-10-21T09:00:00+08:00"), 0, "civil_code")
    with pytest.raises(ValueError, match="unknown period rule"):
        publicity_period(datetime.fromisoformat("2019-10-21T09:00:00+08:00"), 7, "lunar")


def test_chinese_date_format():
    assert format_cn_date(date(2019, 11, 1)) == "2019年11月1日"
    assert format_cn_date(date(2019, 10, 12)) == "2019年10月12日"


moments = st.datetimes(
    min_value=datetime(2005, 1, 1), max_value=datetime(2025, 12, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(opened=moments, days=st.integers(1, 20))
def test_civil_code_is_never_shorter_than_the_days(opened, days):
    closes = closing_time(opened, days, "civil_code")
    assert closes >= opened + timedelta(days=days)
    local = closes.astimezone(calendar.SHANGHAI)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)


@settings(max_examples=300, deadline=None)
@given(opened=moments, days=st.integers(1, 15))
def test_working_days_count_exactly(opened, days):
    period = publicity_period(opened, days, "working_days")
    span = (period.last_day - period.first_day).days + 1
    counted = sum(calendar.is_working_day(period.first_day + timedelta(d)) for d in range(span))
    assert counted == days
    assert calendar.is_working_day(period.last_day)
