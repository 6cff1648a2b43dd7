"""Guards by name: each returns None when the rule holds, or a reason a person can read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(slots=True)
class Firing:
    """What a guard sees when a trigger fires on one case: the model handed to `transitions`."""

    state: str
    actor_id: int | None
    actor_role: str
    actor_name: str
    payload: dict[str, Any]
    case_data: dict[str, Any]
    rules: Any  # states.rules.RuleSet
    today: date
    facts: dict[str, Any] = field(default_factory=dict)


Guard = Callable[[Firing], "str | None"]
GUARDS: dict[str, Guard] = {}
# Routing guards choose between candidate transitions of one trigger; their
# failure is not a refusal a person needs to read about.
ROUTING: set[str] = set()


def guard(name: str, routing: bool = False) -> Callable[[Guard], Guard]:
    """Register a guard function under its name."""

    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        if routing:
            ROUTING.add(name)
        return fn

    return register


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _not_in_future(f: Firing, key: str, what: str) -> str | None:
    day = _date(f.payload.get(key))
    if day is None:
        return f"缺少{what}日期 ({key})"
    if day > f.today:
        return f"{what}日期 {day.isoformat()} 晚于今天 ({key} is in the future)"
    return None


@guard("enough_surveyors")
def enough_surveyors(f: Firing) -> str | None:
    """The survey team has at least the rule set's minimum of distinct people (≥2)."""
    people = {str(n).strip() for n in f.payload.get("surveyors") or [] if str(n).strip()}
    need = f.rules.min_surveyors
    return None if len(people) >= need else f"摸底调查人员不少于{need}人,现有{len(people)}人"


@guard("survey_not_in_future")
def survey_not_in_future(f: Firing) -> str | None:
    """The survey date is not after today."""
    return _not_in_future(f, "surveyed_on", "调查")


@guard("criteria_met")
def criteria_met(f: Firing) -> str | None:
    """The stored survey judgement meets the rule set (两不愁三保障 and income above the line)."""
    judgement = (f.case_data.get("survey") or {}).get("judgement")
    if not judgement:
        return "尚无摸底调查结果"
    if judgement.get("met"):
        return None
    reasons = [v["reason"] for v in judgement.get("indicators", {}).values() if not v["met"]]
    if not judgement.get("income_met", True):
        reasons.insert(
            0,
            f"人均纯收入 {judgement['income_per_capita']} 元未超过当年扶贫标准 "
            f"{judgement['poverty_line']} 元",
        )
    return "未达到退出标准:" + ";".join(reasons)


@guard("meeting_not_in_future")
def meeting_not_in_future(f: Firing) -> str | None:
    """The appraisal meeting date is not after today."""
    return _not_in_future(f, "meeting_on", "评议会议")


@guard("votes_consistent")
def votes_consistent(f: Firing) -> str | None:
    """Votes for and against do not exceed those present."""
    present = f.payload.get("present", 0)
    cast = f.payload.get("votes_for", 0) + f.payload.get("votes_against", 0)
    if present < 1:
        return "参会人数必须大于0"
    return None if cast <= present else f"赞成与反对票之和 {cast} 超过参会人数 {present}"


@guard("attendance_sufficient")
def attendance_sufficient(f: Firing) -> str | None:
    """When the number of representatives is given, enough of them attended."""
    reps = f.payload.get("representatives")
    if not reps:
        return None
    share = f.rules.min_appraisal_attendance
    present = f.payload.get("present", 0)
    return (
        None
        if present >= share * reps
        else (f"参会代表 {present}/{reps} 人,不足规定的 {share:.0%}")
    )


@guard("majority_of_present")
def majority_of_present(f: Firing) -> str | None:
    """More than half of those present voted for the exit."""
    present, votes = f.payload.get("present", 0), f.payload.get("votes_for", 0)
    return None if votes * 2 > present else f"赞成票 {votes} 未超过参会人数 {present} 的半数"


@guard("window_open", routing=True)
def window_open(f: Firing) -> str | None:
    """The case's publicity window is still open."""
    return None if f.facts.get("window_open") else "公示期已结束"


@guard("window_closed", routing=True)
def window_closed(f: Firing) -> str | None:
    """The case's publicity window has closed."""
    return None if f.facts.get("window_open") is False else "公示期尚未结束"


@guard("objection_open")
def objection_open(f: Firing) -> str | None:
    """The objection named is open and belongs to this case."""
    status = f.facts.get("objection_status")
    if status is None:
        return "该案件没有这条异议"
    return None if status == "open" else "该异议已处理"


@guard("other_objections_open", routing=True)
def other_objections_open(f: Firing) -> str | None:
    """Other objections against the case remain open, so it stays under review."""
    return None if f.facts.get("other_open_objections", 0) > 0 else "没有其他未处理的异议"


@guard("from_village_window", routing=True)
def from_village_window(f: Firing) -> str | None:
    """The objection was lodged in the village's first publicity."""
    return None if f.facts.get("window_stage") == "village" else "不是第一次公示"


@guard("from_township_window", routing=True)
def from_township_window(f: Firing) -> str | None:
    """The objection was lodged in the township's second publicity."""
    return None if f.facts.get("window_stage") == "township" else "不是第二次公示"


@guard("verifier_independent")
def verifier_independent(f: Firing) -> str | None:
    """The verifier neither surveyed nor appraised the case and has not signed this round (4342)."""
    if f.actor_id in f.facts.get("signed_ids", ()):
        return "您已对本轮核实签字,每人只能签一次"
    if f.actor_id in f.facts.get("surveyor_ids", ()) or f.actor_name in f.facts.get(
        "surveyor_names", ()
    ):
        return "参与摸底调查的人员不能核实同一户"
    if f.actor_id in f.facts.get("appraiser_ids", ()):
        return "参与民主评议的人员不能核实同一户"
    return None


@guard("visit_not_in_future")
def visit_not_in_future(f: Firing) -> str | None:
    """The household visit date is not after today."""
    return _not_in_future(f, "visited_on", "入户核实")


@guard("verification_failed", routing=True)
def verification_failed(f: Firing) -> str | None:
    """This sign-off finds the household not meeting the criteria."""
    return None if f.payload.get("result") == "fail" else "核实结果为通过"


@guard("enough_verifiers", routing=True)
def enough_verifiers(f: Firing) -> str | None:
    """With this passing sign-off, the minimum number of distinct verifiers (≥3) is reached."""
    if f.payload.get("result") != "pass":
        return "核实结果不是通过"
    passing = set(f.facts.get("passing_ids", ())) | {f.actor_id}
    need = f.rules.min_verifiers
    return None if len(passing) >= need else f"已有{len(passing)}人核实通过,需要{need}人"


@guard("approver_not_verifier")
def approver_not_verifier(f: Firing) -> str | None:
    """A county approver must not be one of the case's verifiers (4342 责任制)."""
    return (
        None
        if f.actor_id not in f.facts.get("verifier_ids", ())
        else ("参与入户核实的人员不能审批同一户")
    )


def _incidence(f: Firing, threshold: float) -> str | None:
    rate = f.facts.get("incidence")
    if rate is None:
        return "无法计算贫困发生率(缺少农业户籍人口数)"
    return (
        None
        if rate < threshold
        else (
            f"贫困发生率 {rate:.2f}% 未低于 {threshold:g}%"
            f"(未退出贫困人口 {f.facts.get('poor_people')} / 农业户籍人口 {f.facts.get('population')})"
        )
    )


@guard("village_incidence_below_threshold")
def village_incidence_below_threshold(f: Firing) -> str | None:
    """The village's live incidence rate is below the rule set's threshold (2%, west 3%)."""
    return _incidence(f, f.rules.village_incidence_threshold)


@guard("county_incidence_below_threshold")
def county_incidence_below_threshold(f: Firing) -> str | None:
    """The county's live incidence rate is below the rule set's threshold (2%, west 3%)."""
    return _incidence(f, f.rules.county_incidence_threshold)


@guard("village_indicators_met")
def village_indicators_met(f: Firing) -> str | None:
    """Every village indicator of the rule set is met (e.g. Guangxi's 十一有)."""
    indicators = f.payload.get("indicators")
    if indicators is None:  # at approval: what the village proposed with
        indicators = f.facts.get("proposal_indicators") or (f.case_data.get("proposal") or {}).get(
            "indicators", {}
        )
    missing = [i.label for i in f.rules.village_indicators if not indicators.get(i.code)]
    return None if not missing else "未达到:" + "、".join(missing)


@guard("poor_villages_exited")
def poor_villages_exited(f: Firing) -> str | None:
    """The county's poor villages have exited (or the share the rule set requires)."""
    total, done = f.facts.get("poor_villages", 0), f.facts.get("poor_villages_exited", 0)
    need = f.rules.county_poor_village_exit_share
    if total == 0 or done / total >= need:
        return None
    return f"贫困村退出 {done}/{total},未达到规定的 {need:.0%}"
