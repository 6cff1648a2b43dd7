"""What is cached for speed gives what is computed afresh: periods, judgements."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from states import calendar
from states.criteria import IndicatorResult, Judgement, UnknownIndicator, judge_household
from states.rules import load_rule_set

OPENED = datetime.fromisoformat("2026-12-28T10:00:00+08:00")


def test_a_cached_period_is_forgotten_when_the_holiday_data_changes():
    try:
        calendar.register_year(2027, [date(2027, 1, 4)], [])
        assert calendar.publicity_period(OPENED, 7, "civil_code").last_day == date(2027, 1, 5)
        assert calendar.publicity_period(OPENED, 7, "civil_code").last_day == date(2027, 1, 5)
        calendar.register_year(2027, [], [])  # the schedule as published differs
        assert calendar.publicity_period(OPENED, 7, "civil_code").last_day == date(2027, 1, 4)
        calendar.clear_registered_years()
        with pytest.raises(calendar.HolidayDataMissing):
            calendar.publicity_period(OPENED, 7, "civil_code")
    finally:
        calendar.clear_registered_years()


def test_a_period_is_the_same_from_any_moment_of_the_posting_day():
    morning = datetime.fromisoformat("2019-10-21T00:00:01+08:00")
    evening = datetime.fromisoformat("2019-10-21T23:59:59+08:00")
    for rule in ("civil_code", "inclusive_days", "working_days"):
        first = calendar.publicity_period(morning, 7, rule)
        assert calendar.publicity_period(evening, 7, rule) == first
        assert first.posted_on == date(2019, 10, 21)


def reference(rules, year, income, indicators, dibao=None) -> Judgement:
    """judge_household as first written: every result built afresh."""
    unknown = set(indicators) - set(rules.household_indicator_codes())
    if unknown:
        raise UnknownIndicator(unknown)
    line = rules.poverty_line(year).amount
    income_met = income > line or (dibao or 0) > line
    results = []
    for ind in rules.household_indicators:
        value = indicators.get(ind.code)
        if value is None:
            results.append(IndicatorResult(ind.code, ind.label, False, f"{ind.label}:未填写"))
        else:
            results.append(
                IndicatorResult(
                    ind.code, ind.label, bool(value), "" if value else f"{ind.label}:未达到"
                )
            )
    met = income_met and all(r.met for r in results)
    return Judgement(met, line, float(income), income_met, tuple(results))


GUANGXI = load_rule_set("guangxi")
CODES = GUANGXI.household_indicator_codes()


@settings(max_examples=300, deadline=None)
@given(
    rule_set=st.sampled_from(["national", "guangxi"]),
    income=st.one_of(st.integers(0, 9000), st.floats(0, 9000, allow_nan=False)),
    dibao=st.one_of(st.none(), st.integers(0, 5000)),
    values=st.dictionaries(
        st.sampled_from(CODES), st.one_of(st.none(), st.booleans(), st.integers(0, 1))
    ),
)
def test_judgement_is_the_reference_judgement(rule_set, income, dibao, values):
    rules = load_rule_set(rule_set)
    values = {k: v for k, v in values.items() if k in rules.household_indicator_codes()}
    got = judge_household(rules, 2019, income, values, dibao)
    want = reference(rules, 2019, income, values, dibao)
    assert got == want
    assert got.to_dict() == want.to_dict() and got.reasons() == want.reasons()


def test_unknown_indicators_are_still_refused_by_name():
    with pytest.raises(UnknownIndicator) as err:
        judge_household(load_rule_set("national"), 2019, 5000, {"tv": True, "food": True})
    assert err.value.codes == ["tv"]
