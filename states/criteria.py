"""Applying a rule set: household exit criteria, incidence, the evaluation's 三率一度, samples."""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Z95 = 1.959963984540054


class UnknownIndicator(ValueError):
    """Indicator codes the rule set does not know."""

    def __init__(self, codes):
        self.codes = sorted(codes)
        super().__init__(f"unknown indicator(s): {', '.join(self.codes)}")


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator's result; `reason` says in Chinese why it is not met."""

    code: str
    label: str
    met: bool
    reason: str


@dataclass(frozen=True)
class Judgement:
    """A household judged by a rule set for a year."""

    met: bool
    poverty_line: float
    income_per_capita: float
    income_met: bool
    results: tuple[IndicatorResult, ...]

    def reasons(self) -> list[str]:
        """Why the criteria are not met (empty when met)."""
        out = (
            []
            if self.income_met
            else [
                f"人均纯收入 {self.income_per_capita:g} 元未超过扶贫标准 {self.poverty_line:g} 元"
            ]
        )
        return out + [r.reason for r in self.results if not r.met]

    def to_dict(self) -> dict:
        """JSON-able, as stored with the survey."""
        return {
            "met": self.met,
            "poverty_line": self.poverty_line,
            "income_per_capita": self.income_per_capita,
            "income_met": self.income_met,
            "indicators": {
                r.code: {"met": r.met, "label": r.label, "reason": r.reason} for r in self.results
            },
        }


def judge_household(
    rules,
    year: int,
    income_per_capita: float,
    indicators: Mapping[str, bool],
    dibao_per_capita: float | None = None,
) -> Judgement:
    """Income strictly above the year's line (“一超”) and every indicator of the rule set met."""
    known, outcomes = _indicator_outcomes(rules)
    if not known.issuperset(indicators):
        raise UnknownIndicator(set(indicators) - known)
    line = rules.poverty_line(year).amount
    # 低保 households whose guarantee exceeds the line count as above it (DOMAIN.md).
    income_met = income_per_capita > line or (dibao_per_capita or 0) > line
    get, results, all_met = indicators.get, [], True
    for code, missing, met, unmet in outcomes:
        value = get(code)
        if value is None:
            results.append(missing)
            all_met = False
        elif value:
            results.append(met)
        else:
            results.append(unmet)
            all_met = False
    return Judgement(
        income_met and all_met, line, float(income_per_capita), income_met, tuple(results)
    )


# Per rule set: its indicator codes and, per indicator, the three results it can
# have (not filled in, met, not met). Results are immutable, so a survey of ten
# thousand households builds none of them anew.
_OUTCOMES: dict[int, tuple] = {}


def _indicator_outcomes(rules) -> tuple[frozenset[str], tuple]:
    cached = _OUTCOMES.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1], cached[2]
    outcomes = tuple(
        (
            ind.code,
            IndicatorResult(ind.code, ind.label, False, f"{ind.label}:未填写"),
            IndicatorResult(ind.code, ind.label, True, ""),
            IndicatorResult(ind.code, ind.label, False, f"{ind.label}:未达到"),
        )
        for ind in rules.household_indicators
    )
    known = frozenset(rules.household_indicator_codes())
    if len(_OUTCOMES) > 64:  # rule sets are few and cached; a stray one is not kept forever
        _OUTCOMES.clear()
    _OUTCOMES[id(rules)] = (rules, known, outcomes)
    return known, outcomes


def village_indicators_met(rules, indicators: Mapping[str, bool]) -> tuple[bool, list[str]]:
    """Whether every village indicator of the rule set is met, and the reasons when not."""
    unknown = set(indicators) - set(rules.village_indicator_codes())
    if unknown:
        raise UnknownIndicator(unknown)
    reasons = [
        f"{i.label}:{'未填写' if i.code not in indicators else '未达到'}"
        for i in rules.village_indicators
        if not indicators.get(i.code)
    ]
    return not reasons, reasons


def incidence_rate(poor_people_not_exited: int, rural_population: int) -> float | None:
    """贫困发生率 in percent; None when the population is unknown (0)."""
    if not rural_population:
        return None
    return poor_people_not_exited * 100.0 / rural_population


def comprehensive_incidence(
    poor_not_exited: int, missed: int, wrongly_exited: int, rural_population: int
) -> float | None:
    """综合贫困发生率 in percent (国开办发〔2017〕56号)."""
    return incidence_rate(poor_not_exited + missed + wrongly_exited, rural_population)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0..1)."""
    if n <= 0:
        raise ValueError("no observations")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    """A rate in percent with its Wilson 95% interval and the counts it comes from."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    numerator: int
    denominator: int

    def to_dict(self) -> dict:
        """JSON-able."""
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "numerator": self.numerator,
            "denominator": self.denominator,
        }


def rate(numerator: int, denominator: int) -> Rate:
    """numerator / denominator in percent with its interval; None values when nothing counted."""
    if denominator <= 0:
        return Rate(None, None, None, numerator, denominator)
    low, high = wilson_interval(numerator, denominator)
    return Rate(
        round(numerator * 100.0 / denominator, 4),
        round(low * 100, 4),
        round(high * 100, 4),
        numerator,
        denominator,
    )


@dataclass(frozen=True)
class Finding:
    """An evaluator's finding on one sampled household."""

    household_id: int
    people: int
    registered_exited: bool
    meets_criteria: bool | None
    missed_poor: bool | None
    satisfied: bool | None


@dataclass(frozen=True)
class EvaluationResult:
    """The 三率一度 and whether they pass the rule set's thresholds."""

    wrong_exit_rate: Rate
    missed_rate: Rate
    approval_rate: Rate
    passed: bool
    reasons: tuple[str, ...]
    incidence: float | None = None

    def to_dict(self) -> dict:
        """JSON-able, as the API shows it."""
        return {
            "wrong_exit_rate": self.wrong_exit_rate.to_dict(),
            "missed_rate": self.missed_rate.to_dict(),
            "approval_rate": self.approval_rate.to_dict(),
            "passed": self.passed,
            "reasons": list(self.reasons),
            "incidence": self.incidence,
        }


def evaluate(
    rules,
    findings: Iterable[Finding],
    incidence: float | None = None,
    threshold: float | None = None,
) -> EvaluationResult:
    """The metrics of 国开办发〔2017〕56号 on people and households, and the verdict."""
    findings = list(findings)
    exited = [f for f in findings if f.registered_exited and f.meets_criteria is not None]
    others = [f for f in findings if not f.registered_exited and f.missed_poor is not None]
    answered = [f for f in findings if f.satisfied is not None]
    wrong = rate(
        sum(f.people for f in exited if not f.meets_criteria), sum(f.people for f in exited)
    )
    missed = rate(sum(f.people for f in others if f.missed_poor), sum(f.people for f in others))
    approval = rate(sum(1 for f in answered if f.satisfied), len(answered))
    t = rules.evaluation
    reasons = []
    # Thresholds are “低于”: a rate exactly at the maximum fails.
    if wrong.value is not None and not wrong.value < t.wrong_exit_rate_max:
        reasons.append(f"错退率 {wrong.value:.2f}% 未低于 {t.wrong_exit_rate_max:g}%")
    if missed.value is not None and not missed.value < t.missed_rate_max:
        reasons.append(f"漏评率 {missed.value:.2f}% 未低于 {t.missed_rate_max:g}%")
    if approval.value is not None and not approval.value >= t.approval_rate_min:
        reasons.append(f"群众认可度 {approval.value:.2f}% 低于 {t.approval_rate_min:g}%")
    if incidence is not None and threshold is not None and not incidence < threshold:
        reasons.append(f"贫困发生率 {incidence:.2f}% 未低于 {threshold:g}%")
    failed = bool(reasons)
    for name, r in (("错退率", wrong), ("漏评率", missed), ("群众认可度", approval)):
        if r.value is None:
            reasons.append(f"{name}:样本中没有可计算的记录")
    return EvaluationResult(wrong, missed, approval, not failed, tuple(reasons), incidence)


def _stratum_rng(seed: int, stratum: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}/{stratum}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def draw_sample(population: Iterable[tuple[int, str]], size: int, seed: int) -> list[int]:
    """A reproducible sample stratified by `stratum`, proportional with largest remainders."""
    strata: dict[str, list[int]] = defaultdict(list)
    for item_id, stratum in population:
        strata[str(stratum)].append(item_id)
    total = sum(len(v) for v in strata.values())
    if size <= 0 or total == 0:
        return []
    if size >= total:
        return sorted(i for ids in strata.values() for i in ids)
    codes = sorted(strata)
    for code in codes:
        strata[code].sort()
    # Every stratum gets one when there is room (DOMAIN.md: stratified by village).
    base = {c: 1 if size >= len(codes) else 0 for c in codes}
    rest = size - sum(base.values())
    remaining_pop = {c: len(strata[c]) - base[c] for c in codes}
    pool = sum(remaining_pop.values())
    quotas = {c: rest * remaining_pop[c] / pool if pool else 0 for c in codes}
    alloc = {c: base[c] + int(quotas[c]) for c in codes}
    left = size - sum(alloc.values())
    order = sorted(codes, key=lambda c: (-(quotas[c] - int(quotas[c])), c))
    for c in order:
        if left <= 0:
            break
        if alloc[c] < len(strata[c]):
            alloc[c] += 1
            left -= 1
    chosen = []
    for c in codes:
        chosen.extend(_stratum_rng(seed, c).sample(strata[c], min(alloc[c], len(strata[c]))))
    return sorted(chosen)


def draw_villages(villages: Iterable[tuple[str, bool, bool]], size: int, seed: int) -> list[str]:
    """Villages for a county evaluation: remote ones on purpose, the rest by poor/non-poor.

    `villages` holds (code, is_poor, is_remote). Remote villages are included whatever
    the draw (the national design visits them deliberately); the other places are
    drawn stratified by poor and non-poor villages, reproducibly from the seed.
    """
    villages = sorted(villages)
    remote = [code for code, _, is_remote in villages if is_remote]
    if size <= len(remote):
        return sorted(remote[:size]) if size > 0 else []
    rest = [
        (i, "poor" if poor else "nonpoor")
        for i, (code, poor, is_remote) in enumerate(villages)
        if not is_remote
    ]
    picked = draw_sample(rest, size - len(remote), seed)
    return sorted(remote + [villages[i][0] for i in picked])
