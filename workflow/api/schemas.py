"""marshmallow schemas of the JSON API: the shape of input, checked at the edge.

Every input field is bounded (workflow/inputs.py): text by `Text` (a length that fits
its column, no control or bidirectional characters; free text may have line breaks),
integers by `Int` (a range that fits the column, 32-bit at most), money by `Money`
(finite, 0 to MONEY_MAX), lists and dicts by their length. The response schemas only
describe what is sent and validate nothing.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from workflow import clock
from workflow.inputs import (
    DEFAULT_MAX,
    INT_MAX,
    INT_MIN,
    MONEY_MAX,
    YEAR_MAX,
    YEAR_MIN,
    text_problem,
)

Str = fields.String  # response schemas only

# The years a case or an evaluation may be opened for (the 2011 poverty line on).
CASE_YEAR_MIN = 2011
ID_MAX = INT_MAX  # row ids: 1 to 2**31-1 (the IdConverter's bound for path ids)


def _with(checks: list, extra) -> list:
    if extra is None:
        return checks
    return checks + (list(extra) if isinstance(extra, list | tuple) else [extra])


class Text(fields.String):
    """A string of at most `max_length` characters (of any script: 𠮷 and 䶮 count one
    each), at least `min_length`, with no control characters, bidirectional overrides or
    lone surrogates; `multiline` allows tab and line breaks (notes, minutes, reasons)."""

    def __init__(
        self,
        max_length: int = DEFAULT_MAX,
        *,
        min_length: int = 0,
        multiline: bool = False,
        **kwargs,
    ):
        self.max_length, self.multiline = max_length, multiline
        if min_length == max_length:
            error = "须为 {equal} 个字符"
            length = validate.Length(equal=max_length, error=error)
        else:
            error = "长度须在 {min} 到 {max} 个字符之间"
            length = validate.Length(min=min_length, max=max_length, error=error)
        super().__init__(validate=_with([length], kwargs.pop("validate", None)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, self.max_length, self.multiline)
        if problem:
            raise ValidationError(problem)
        return text


class Int(fields.Integer):
    """An integer within [low, high] (by default a 32-bit column's range)."""

    def __init__(self, low: int = INT_MIN, high: int = INT_MAX, **kwargs):
        bound = validate.Range(min=low, max=high, error="须为 {min} 到 {max} 之间的整数")
        super().__init__(validate=_with([bound], kwargs.pop("validate", None)), **kwargs)


class Money(fields.Float):
    """An amount in yuan: finite (no NaN or Infinity), 0 to MONEY_MAX."""

    def __init__(self, high: float = MONEY_MAX, **kwargs):
        bound = validate.Range(min=0, max=high, error="须为 {min} 到 {max} 之间的金额(元)")
        super().__init__(allow_nan=False, validate=[bound], **kwargs)


def Id(**kwargs) -> Int:  # noqa: N802 - a field factory, named like the fields
    """A row id in a JSON body: an integer (not "12", not 12.0), 1 to 2**31-1."""
    return Int(1, ID_MAX, strict=True, **kwargs)


def Year(low: int = CASE_YEAR_MIN, **kwargs) -> Int:  # noqa: N802
    """A year (2011 to 2100 for cases and evaluations)."""
    return Int(low, YEAR_MAX, **kwargs)


def Code(**kwargs) -> Text:  # noqa: N802
    """A region code (12 characters at most, as the column)."""
    return Text(12, min_length=1, **kwargs)


class Subject(fields.Raw):
    """A case's subject: a household id (integer) or a region code (string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= ID_MAX:
                raise ValidationError(f"贫困户编号须为 1 到 {ID_MAX} 之间的整数")
            return value
        if isinstance(value, str):
            problem = text_problem(value, 12)
            if problem or not value:
                raise ValidationError(problem or "地区代码不能为空")
            return value
        raise ValidationError("须为贫困户编号(整数)或地区代码(字符串)")


class PastDate(fields.Date):
    """A YYYY-MM-DD date that is not after today (Asia/Shanghai) nor before 2000."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if day > clock.local_today():
            raise ValidationError("日期不能晚于今天 (date is in the future)")
        if day.year < YEAR_MIN:
            raise ValidationError(f"日期不能早于 {YEAR_MIN} 年")
        return day


class BoundedDateTime(fields.AwareDateTime):
    """An aware date and time in the years 2000 to 2100."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not YEAR_MIN <= moment.year <= YEAR_MAX:
            raise ValidationError(f"时间须在 {YEAR_MIN} 年至 {YEAR_MAX} 年之间")
        return moment


def Indicators(**kwargs) -> fields.Dict:  # noqa: N802
    """Indicator codes (as in states/rules) to booleans."""
    return fields.Dict(
        keys=Text(40, min_length=1),
        values=fields.Boolean(),
        validate=validate.Length(max=100, error="最多 {max} 项"),
        **kwargs,
    )


def TriggerData(**kwargs) -> fields.Dict:  # noqa: N802
    """A trigger's data; its fields are checked by TRIGGER_DATA[trigger]."""
    return fields.Dict(
        keys=Text(64, min_length=1),
        load_default=dict,
        validate=validate.Length(max=100, error="最多 {max} 项"),
        **kwargs,
    )


def CaseIds(**kwargs) -> fields.List:  # noqa: N802
    return fields.List(
        Id(),
        required=True,
        validate=validate.Length(min=1, max=20000, error="须为 {min} 到 {max} 个案件"),
        **kwargs,
    )


class TokenRequest(Schema):
    username = Text(64, min_length=1, required=True)
    password = Text(200, min_length=1, required=True)


class TokenResponse(Schema):
    token = Str()
    expires_at = fields.DateTime()


class RegionIn(Schema):
    code = Text(
        12,
        required=True,
        validate=validate.Regexp(r"^\d{6}(\d{6})?$", error="地区代码须为 6 位或 12 位数字"),
    )
    name = Text(100, min_length=1, required=True)
    level = Text(
        10,
        required=True,
        validate=validate.OneOf(["province", "city", "county", "township", "village", "group"]),
    )
    parent_code = Text(12, load_default=None, allow_none=True)
    rural_population = Int(0, INT_MAX, load_default=None, allow_none=True)
    is_poor = fields.Boolean(load_default=False)
    remote = fields.Boolean(load_default=False)
    rule_set = Text(40, load_default=None, allow_none=True)

    @validates_schema
    def known_rule_set(self, data, **kwargs):
        from states.rules import available_rule_sets

        if data.get("rule_set") and data["rule_set"] not in available_rule_sets():
            raise ValidationError(f"unknown rule set; one of {available_rule_sets()}", "rule_set")


class RegionOut(Schema):
    code, name, level, parent_code = Str(), Str(), Str(), Str(allow_none=True)
    rural_population = fields.Integer(allow_none=True)
    is_poor = fields.Boolean()
    rule_set = Str(allow_none=True)
    incidence_rate = fields.Float(allow_none=True)
    poor_people_not_exited = fields.Integer()
    poor_households_not_exited = fields.Integer()


class UserIn(Schema):
    username = Text(64, min_length=1, required=True)
    password = Text(200, min_length=1, required=True)
    role = Text(16, min_length=1, required=True)
    region_code = Text(12, load_default=None, allow_none=True)
    display_name = Text(100, load_default=None, allow_none=True)


class UserPatch(Schema):
    active = fields.Boolean(required=True)


class MemberIn(Schema):
    name = Text(50, min_length=1, required=True)
    relation = Text(20, min_length=1, required=True)
    id_number = Text(18, min_length=18, required=True)


class HouseholdIn(Schema):
    village_code = Code(required=True)
    group = Text(50, min_length=1, required=True)
    head_name = Text(50, min_length=1, required=True)
    head_id_number = Text(18, min_length=18, required=True)
    members = fields.List(
        fields.Nested(MemberIn),
        load_default=list,
        validate=validate.Length(max=30, error="家庭成员最多 {max} 人"),
    )
    poverty_cause = Text(100, load_default=None, allow_none=True)
    registered = fields.Boolean(load_default=True)


class CaseIn(Schema):
    kind = Text(
        20,
        required=True,
        validate=validate.OneOf(["household_exit", "village_exit", "county_exit"]),
    )
    subject = Subject(required=True)
    year = Year(required=True)


class TransitionIn(Schema):
    trigger = Text(32, min_length=1, required=True)
    data = TriggerData()
    expected_version = Int(1, INT_MAX, load_default=None, allow_none=True)


class BatchIn(Schema):
    trigger = Text(32, min_length=1, required=True)
    case_ids = CaseIds()
    data = TriggerData()
    all_or_nothing = fields.Boolean(load_default=False)


class BatchFailure(Schema):
    id = fields.Integer()
    status = fields.Integer()
    detail = Str()


class BatchOut(Schema):
    succeeded = fields.List(fields.Integer())
    failed = fields.List(fields.Nested(BatchFailure))


class ContactIn(Schema):
    phone = Text(40, min_length=3, required=True)
    address = Text(200, min_length=1, required=True)


class WindowIn(Schema):
    scope_code = Code(required=True)
    case_ids = CaseIds()
    contact = fields.Nested(ContactIn, required=True)
    title = Text(200, load_default=None, allow_none=True)


class WindowOut(Schema):
    id = fields.Integer()
    code, title, stage, scope_code = Str(), Str(), Str(), Str()
    opens_at, closes_at = fields.DateTime(), fields.DateTime()
    first_day, last_day = Str(), Str()
    notice_url = Str()
    is_open = fields.Boolean()


class ObjectionIn(Schema):
    case_id = Id(required=True)
    content = Text(2000, min_length=5, multiline=True, required=True)
    contact = Text(200, load_default=None, allow_none=True)


class EvaluationIn(Schema):
    scope_code = Code(required=True)
    year = Year(required=True)
    sample_size = Int(1, 100000, required=True)
    seed = Int(0, 2**62, required=True)  # a BIGINT column
    nonregistered_sample_size = Int(0, 100000, load_default=0)
    evaluators = fields.List(
        Text(64, min_length=1),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200, error="评估人员最多 {max} 人"),
    )
    village_sample_size = Int(1, 10000, load_default=None, allow_none=True)
    households_per_village = Int(1, 10000, load_default=None, allow_none=True)


class AppealIn(Schema):
    household_id = Id(required=True)
    reason = Text(2000, min_length=1, multiline=True, required=True)


class AppealResolutionIn(Schema):
    household_id = Id(required=True)
    upheld = fields.Boolean(required=True)
    resolution = Text(2000, min_length=1, multiline=True, required=True)


class FindingIn(Schema):
    household_id = Id(required=True)
    meets_criteria = fields.Boolean(load_default=None, allow_none=True)
    missed_poor = fields.Boolean(load_default=None, allow_none=True)
    satisfied = fields.Boolean(load_default=None, allow_none=True)
    # Why the household could not be visited (checked by the service); answers stay null.
    unreachable_reason = Text(2000, multiline=True, load_default=None, allow_none=True)


class ClockIn(Schema):
    now = BoundedDateTime(required=True)


# Transition data per trigger (CONTRACT.md); unknown fields are refused.
class SurveyData(Schema):
    surveyed_on = PastDate(required=True)
    surveyors = fields.List(
        Text(50, min_length=1),
        required=True,
        validate=validate.Length(min=2, max=20, error="调查人员须为 {min} 到 {max} 人"),
    )
    income_per_capita = Money(required=True)
    indicators = Indicators(required=True)
    dibao_per_capita = Money(load_default=None, allow_none=True)
    notes = Text(2000, multiline=True, load_default=None, allow_none=True)


class AppraiseData(Schema):
    meeting_on = PastDate(required=True)
    present = Int(1, 10000, required=True)
    votes_for = Int(0, 10000, required=True)
    votes_against = Int(0, 10000, required=True)
    representatives = Int(1, 10000, load_default=None, allow_none=True)
    minutes = Text(20000, multiline=True, load_default=None, allow_none=True)


class VerifyData(Schema):
    result = Text(8, required=True, validate=validate.OneOf(["pass", "fail"]))
    visited_on = PastDate(required=True)
    notes = Text(2000, multiline=True, load_default=None, allow_none=True)


class ReasonData(Schema):
    reason = Text(2000, min_length=1, multiline=True, required=True)


class ObjectionFindingData(Schema):
    objection_id = Id(required=True)
    finding = Text(2000, min_length=1, multiline=True, required=True)


class ProposeData(Schema):
    indicators = Indicators(required=True)


class NoteData(Schema):
    note = Text(2000, multiline=True, load_default=None, allow_none=True)


TRIGGER_DATA = {
    "submit_survey": SurveyData,
    "appraise": AppraiseData,
    "verify": VerifyData,
    "defer": ReasonData,
    "reject": ReasonData,
    "dismiss_objection": ObjectionFindingData,
    "uphold_objection": ObjectionFindingData,
    "propose": ProposeData,
    "review": NoteData,
    "approve": NoteData,
    "confirm": NoteData,
    "announce": NoteData,
    "record_exit": NoteData,
}


class CorrectionIn(Schema):
    note = Text(2000, min_length=1, multiline=True, required=True)


class AnnouncementIn(Schema):
    scope_code = Code(required=True)
    year = Year(required=True)
