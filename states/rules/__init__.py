"""Rule sets as data: TOML files here, each extending another, loaded into frozen RuleSets."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType

HERE = Path(__file__).resolve().parent
_TOP = {
    "id",
    "name",
    "extends",
    "poverty_lines",
    "household_indicators",
    "village_indicators",
    "village",
    "collective_income_min",
    "thresholds",
    "procedure",
    "evaluation",
    "deadlines",
}


class UnknownRuleSet(LookupError):
    """No rule set of that id."""


class PovertyLineMissing(LookupError):
    """The rule set has no poverty line for a year."""

    def __init__(self, year: int):
        self.year = year
        super().__init__(f"no poverty line for {year}")


@dataclass(frozen=True)
class PovertyLine:
    """The poverty line of one year, with its source."""

    year: int
    amount: float
    source: str
    verified: bool


@dataclass(frozen=True)
class Indicator:
    """An indicator of the criteria, with its Chinese label and source."""

    code: str
    label: str
    source: str


@dataclass(frozen=True)
class EvaluationThresholds:
    """The 三率一度 thresholds (percent)."""

    wrong_exit_rate_max: float
    missed_rate_max: float
    approval_rate_min: float


@dataclass(frozen=True)
class RuleSet:
    """A rule set, resolved through its parents."""

    id: str
    name: str
    parent: str | None
    poverty_lines: Mapping[int, PovertyLine]
    household_indicators: tuple[Indicator, ...]
    village_indicators: tuple[Indicator, ...]
    village_incidence_threshold: float
    county_incidence_threshold: float
    county_poor_village_exit_share: float
    publicity_days: int
    period_rule: str
    min_verifiers: int
    min_surveyors: int
    min_appraisal_attendance: float
    evaluation: EvaluationThresholds
    deadlines: Mapping[str, int]
    collective_income_min: Mapping[int, float] = field(default_factory=dict)

    def poverty_line(self, year: int) -> PovertyLine:
        """The line of a year; PovertyLineMissing when the rule set has none."""
        try:
            return self.poverty_lines[year]
        except KeyError:
            raise PovertyLineMissing(year) from None

    def household_indicator_codes(self) -> tuple[str, ...]:
        """Codes of the household indicators, in order."""
        return tuple(i.code for i in self.household_indicators)

    def village_indicator_codes(self) -> tuple[str, ...]:
        """Codes of the village indicators, in order."""
        return tuple(i.code for i in self.village_indicators)


def available_rule_sets(directory: Path | None = None) -> list[str]:
    """The ids of the rule sets in a directory (default: this package)."""
    return sorted(p.stem for p in (directory or HERE).glob("*.toml"))


def load_rule_set(rule_set_id: str = "national", directory: Path | None = None) -> RuleSet:
    """A rule set by id, its `extends` chain resolved and validated (cached)."""
    return _load(rule_set_id, str(directory or HERE))


@cache
def _load(rule_set_id: str, directory: str) -> RuleSet:
    merged = _merged(rule_set_id, Path(directory), ())
    return _build(merged)


def _read(rule_set_id: str, directory: Path) -> dict:
    path = directory / f"{rule_set_id}.toml"
    if not path.is_file():
        raise UnknownRuleSet(f"unknown rule set {rule_set_id!r}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path.name}: {err}") from None
    unknown = set(data) - _TOP
    if unknown:
        raise ValueError(f"{path.name}: unknown key(s) {sorted(unknown)}")
    if data.get("id") != rule_set_id:
        raise ValueError(f"{path.name}: id must be {rule_set_id!r}")
    data["_file"] = path.name
    return data


def _merged(rule_set_id: str, directory: Path, seen: tuple[str, ...]) -> dict:
    if rule_set_id in seen:
        raise ValueError(f"rule sets extend in a cycle: {' -> '.join((*seen, rule_set_id))}")
    data = _read(rule_set_id, directory)
    parent_id = data.get("extends")
    if not parent_id:
        return data
    parent = _merged(parent_id, directory, (*seen, rule_set_id))
    out = dict(parent)
    for key in ("id", "name", "extends", "_file"):
        out[key] = data.get(key)
    for table in (
        "poverty_lines",
        "thresholds",
        "procedure",
        "evaluation",
        "deadlines",
        "collective_income_min",
    ):
        out[table] = {**parent.get(table, {}), **data.get(table, {})}
    out["household_indicators"] = parent.get("household_indicators", []) + data.get(
        "household_indicators", []
    )
    replace = data.get("village", {}).get("replace_indicators", False)
    out["village_indicators"] = (
        data.get("village_indicators", [])
        if replace
        else (parent.get("village_indicators", []) + data.get("village_indicators", []))
    )
    return out


def _need(data: dict, table: str, key: str, kind=float):
    try:
        value = data[table][key]
    except KeyError:
        raise ValueError(f"{data['_file']}: missing [{table}] {key}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{data['_file']}: [{table}] {key} must be {kind.__name__}")
    return value


def _indicators(data: dict, key: str) -> tuple[Indicator, ...]:
    out, seen = [], set()
    for item in data.get(key, []):
        if not {"code", "label"} <= set(item) or set(item) - {"code", "label", "source"}:
            raise ValueError(f"{data['_file']}: each of {key} has code, label, source")
        if item["code"] in seen:
            raise ValueError(f"{data['_file']}: indicator {item['code']} appears twice")
        seen.add(item["code"])
        out.append(Indicator(item["code"], item["label"], item.get("source", "")))
    return tuple(out)


def _build(d: dict) -> RuleSet:
    lines = {}
    for year, line in d.get("poverty_lines", {}).items():
        if not str(year).isdigit() or not isinstance(line.get("amount"), int | float):
            raise ValueError(f"{d['_file']}: poverty_lines.{year} needs a year and an amount")
        lines[int(year)] = PovertyLine(
            int(year),
            float(line["amount"]),
            line.get("source", ""),
            bool(line.get("verified", False)),
        )
    rule = _need(d, "procedure", "period_rule", str)
    if rule not in ("civil_code", "inclusive_days", "working_days"):
        raise ValueError(f"{d['_file']}: unknown period_rule {rule!r}")
    deadlines = {k: v for k, v in d.get("deadlines", {}).items()}
    if not all(isinstance(v, int) and v > 0 for v in deadlines.values()):
        raise ValueError(f"{d['_file']}: deadlines are whole days > 0")
    return RuleSet(
        id=d["id"],
        name=d.get("name", d["id"]),
        parent=d.get("extends"),
        poverty_lines=MappingProxyType(lines),
        household_indicators=_indicators(d, "household_indicators"),
        village_indicators=_indicators(d, "village_indicators"),
        village_incidence_threshold=_need(d, "thresholds", "village_incidence"),
        county_incidence_threshold=_need(d, "thresholds", "county_incidence"),
        county_poor_village_exit_share=_need(d, "thresholds", "county_poor_village_exit_share"),
        publicity_days=_need(d, "procedure", "publicity_days", int),
        period_rule=rule,
        min_verifiers=_need(d, "procedure", "min_verifiers", int),
        min_surveyors=_need(d, "procedure", "min_surveyors", int),
        min_appraisal_attendance=_need(d, "procedure", "min_appraisal_attendance"),
        evaluation=EvaluationThresholds(
            wrong_exit_rate_max=_need(d, "evaluation", "wrong_exit_rate_max"),
            missed_rate_max=_need(d, "evaluation", "missed_rate_max"),
            approval_rate_min=_need(d, "evaluation", "approval_rate_min"),
        ),
        deadlines=MappingProxyType(deadlines),
        collective_income_min=MappingProxyType(
            {int(k): float(v) for k, v in d.get("collective_income_min", {}).items()}
        ),
    )
