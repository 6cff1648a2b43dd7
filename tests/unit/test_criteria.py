"""Rule sets and criteria: judgements, intervals, the 三率一度, samples."""

from __future__ import annotations

import pytest

from states.criteria import (
    Finding,
    UnknownIndicator,
    draw_sample,
    evaluate,
    incidence_rate,
    judge_household,
    rate,
    village_indicators_met,
    wilson_interval,
)
from states.rules import PovertyLineMissing, UnknownRuleSet, available_rule_sets, load_rule_set

NATIONAL = load_rule_set("national")
GUANGXI = load_rule_set("guangxi")
ALL5 = {
    c: True for c in ("food", "clothing", "compulsory_education", "basic_medical", "housing_safety")
}
ALL9 = {**ALL5, "safe_water": True, "electricity": True, "road": True, "tv": True}


def test_rule_sets_and_inheritance():
    assert {"national", "guangxi"} <= set(available_rule_sets())
    assert NATIONAL.household_indicator_codes() == tuple(ALL5)
    assert GUANGXI.household_indicator_codes() == tuple(ALL9)
    assert GUANGXI.parent == "national"
    assert (NATIONAL.village_incidence_threshold, GUANGXI.village_incidence_threshold) == (2, 3)
    assert GUANGXI.poverty_line(2016).amount == 2952 and GUANGXI.poverty_line(2016).verified
    assert not NATIONAL.poverty_line(2019).verified
    assert len(GUANGXI.village_indicators) == 11  # 十一有
    assert GUANGXI.collective_income_min[2019] == 40000
    assert (NATIONAL.publicity_days, NATIONAL.min_verifiers, NATIONAL.period_rule) == (
        7,
        3,
        "civil_code",
    )
    with pytest.raises(UnknownRuleSet):
        load_rule_set("atlantis")
    with pytest.raises(PovertyLineMissing):
        NATIONAL.poverty_line(2009)


@pytest.mark.parametrize(
    "text,problem",
    [
        ('id = "x"\nextends = "x"\n', "cycle"),
        ('id = "x"\nextends = "national"\nfavourite_colour = "red"\n', "unknown key"),
        ('id = "y"\n', "id must be"),
        ('id = "x"\nextends = "national"\n[procedure]\nperiod_rule = "lunar"\n', "period_rule"),
    ],
)
def test_bad_rule_files_are_refused(tmp_path, text, problem):
    import shutil

    from states import rules

    shutil.copy(rules.HERE / "national.toml", tmp_path / "national.toml")
    (tmp_path / "x.toml").write_text(text)
    with pytest.raises(ValueError, match=problem):
        load_rule_set("x", directory=tmp_path)


@pytest.mark.parametrize(
    "rules,year,income,indicators,dibao,met",
    [
        (NATIONAL, 2019, 3219, ALL5, None, True),
        (NATIONAL, 2019, 3218, ALL5, None, False),  # exactly at the line is not above it
        (NATIONAL, 2016, 2953, ALL5, None, True),
        (NATIONAL, 2019, 3000, ALL5, 3300, True),  # a 低保 guarantee above the line counts
        (NATIONAL, 2019, 3000, ALL5, 3100, False),
        (NATIONAL, 2019, 9000, {**ALL5, "housing_safety": False}, None, False),
        (NATIONAL, 2019, 9000, {k: v for k, v in ALL5.items() if k != "food"}, None, False),
        (GUANGXI, 2019, 9000, ALL5, None, False),  # 八有一超 needs water, power, road, TV
        (GUANGXI, 2019, 9000, ALL9, None, True),
        (GUANGXI, 2019, 9000, {**ALL9, "tv": False}, None, False),
    ],
)
def test_household_judgement(rules, year, income, indicators, dibao, met):
    judgement = judge_household(rules, year, income, indicators, dibao)
    assert judgement.met is met
    assert bool(judgement.reasons()) is not met
    stored = judgement.to_dict()
    assert stored["met"] is met and set(stored["indicators"]) == set(
        rules.household_indicator_codes()
    )


def test_unknown_indicator_and_missing_year():
    with pytest.raises(UnknownIndicator) as err:
        judge_household(NATIONAL, 2019, 5000, {**ALL5, "flying_car": True})
    assert err.value.codes == ["flying_car"]
    with pytest.raises(PovertyLineMissing):
        judge_household(NATIONAL, 2030, 5000, ALL5)


def test_village_indicators():
    ok, reasons = village_indicators_met(
        GUANGXI, dict.fromkeys(GUANGXI.village_indicator_codes(), True)
    )
    assert ok and reasons == []
    ok, reasons = village_indicators_met(GUANGXI, {"tv": True})
    assert not ok and any("有特色产业" in r for r in reasons)


@pytest.mark.parametrize(
    "k,n,low,high",
    [
        (0, 100, 0.0, 0.0370),
        (5, 100, 0.0215, 0.1118),
        (50, 100, 0.4038, 0.5962),
        (100, 100, 0.9630, 1.0),
    ],
)
def test_wilson_interval(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_rates_and_incidence():
    assert rate(1, 0).value is None
    assert rate(2, 100).value == 2.0
    assert incidence_rate(25, 1000) == 2.5 and incidence_rate(1, 0) is None


def findings(
    wrong_people: int,
    exited_people: int,
    satisfied: int,
    surveyed: int,
    missed_people: int = 0,
    others_people: int = 0,
) -> list[Finding]:
    out = []
    hid = 0
    for i in range(exited_people):
        hid += 1
        out.append(Finding(hid, 1, True, i >= wrong_people, None, None))
    for i in range(others_people):
        hid += 1
        out.append(Finding(hid, 1, False, None, i < missed_people, None))
    for i in range(surveyed):
        hid += 1
        out.append(Finding(hid, 1, False, None, None, i < satisfied))
    return out


@pytest.mark.parametrize(
    "wrong,exited,satisfied,surveyed,passed",
    [
        (2, 100, 95, 100, False),  # 错退率 exactly 2%: “低于2%” is not met
        (199, 10000, 95, 100, True),  # 1.99%
        (0, 100, 90, 100, True),  # 认可度 exactly 90% passes (“不低于”)
        (0, 100, 899, 1000, False),  # 89.9%
    ],
)
def test_evaluation_thresholds(wrong, exited, satisfied, surveyed, passed):
    result = evaluate(NATIONAL, findings(wrong, exited, satisfied, surveyed))
    assert result.passed is passed
    assert result.wrong_exit_rate.denominator == exited


def test_rates_are_counted_on_people():
    result = evaluate(
        NATIONAL,
        [
            Finding(1, 5, True, False, None, True),
            Finding(2, 1, True, True, None, False),
            Finding(3, 4, False, None, True, True),
        ],
    )
    assert (result.wrong_exit_rate.numerator, result.wrong_exit_rate.denominator) == (5, 6)
    assert (result.missed_rate.numerator, result.missed_rate.denominator) == (4, 4)
    assert (result.approval_rate.numerator, result.approval_rate.denominator) == (2, 3)
    assert not result.passed


def test_samples_are_reproducible_stratified_and_order_free():
    population = [(i, f"v{i % 4}") for i in range(1, 401)]
    a = draw_sample(population, 40, 2019)
    assert a == draw_sample(list(reversed(population)), 40, 2019)
    assert a != draw_sample(population, 40, 2020)
    assert len(a) == 40 and len(set(a)) == 40
    per_stratum = {s: sum(1 for i in a if f"v{i % 4}" == s) for s in ("v0", "v1", "v2", "v3")}
    assert per_stratum == {"v0": 10, "v1": 10, "v2": 10, "v3": 10}
    small = [(1, "a"), (2, "b"), (3, "b"), (4, "b"), (5, "c")]
    picked = draw_sample(small, 3, 1)
    assert {1, 5} <= set(picked)  # every village is visited when there is room
    assert draw_sample(small, 10, 1) == [1, 2, 3, 4, 5]
