"""marshmallow schemas of the JSON API: the shape of input, checked at the edge."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from workflow import clock

Str = fields.String
NonEmpty = validate.Length(min=1, max=2000)


class PastDate(fields.Date):
    """A YYYY-MM-DD date that is not after today (Asia/Shanghai)."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if day > clock.local_today():
            raise ValidationError("日期不能晚于今天 (date is in the future)")
        return day


class TokenRequest(Schema):
    username = Str(required=True, validate=validate.Length(min=1, max=64))
    password = Str(required=True, validate=validate.Length(min=1, max=200))


class TokenResponse(Schema):
    token = Str()
    expires_at = fields.DateTime()


class RegionIn(Schema):
    code = Str(required=True, validate=validate.Regexp(r"^\d{6}(\d{6})?$"))
    name = Str(required=True, validate=validate.Length(min=1, max=100))
    level = Str(
        required=True,
        validate=validate.OneOf(["province", "city", "county", "township", "village", "group"]),
    )
    parent_code = Str(load_default=None, allow_none=True)
    rural_population = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0)
    )
    is_poor = fields.Boolean(load_default=False)
    remote = fields.Boolean(load_default=False)
    rule_set = Str(load_default=None, allow_none=True)

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
    username = Str(required=True)
    password = Str(required=True)
    role = Str(required=True)
    region_code = Str(load_default=None, allow_none=True)
    display_name = Str(load_default=None, allow_none=True, validate=validate.Length(max=100))


class UserPatch(Schema):
    active = fields.Boolean(required=True)


class MemberIn(Schema):
    name = Str(required=True, validate=validate.Length(min=1, max=50))
    relation = Str(required=True, validate=validate.Length(min=1, max=20))
    id_number = Str(required=True, validate=validate.Length(min=18, max=18))


class HouseholdIn(Schema):
    village_code = Str(required=True)
    group = Str(required=True, validate=validate.Length(min=1, max=50))
    head_name = Str(required=True, validate=validate.Length(min=1, max=50))
    head_id_number = Str(required=True, validate=validate.Length(min=18, max=18))
    members = fields.List(
        fields.Nested(MemberIn), load_default=list, validate=validate.Length(max=30)
    )
    poverty_cause = Str(load_default=None, allow_none=True, validate=validate.Length(max=100))
    registered = fields.Boolean(load_default=True)


class CaseIn(Schema):
    kind = Str(
        required=True, validate=validate.OneOf(["household_exit", "village_exit", "county_exit"])
    )
    subject = fields.Raw(required=True)
    year = fields.Integer(required=True, validate=validate.Range(min=2011, max=2100))


class TransitionIn(Schema):
    trigger = Str(required=True, validate=validate.Length(min=1, max=40))
    data = fields.Dict(load_default=dict)
    expected_version = fields.Integer(load_default=None, allow_none=True)


class BatchIn(Schema):
    trigger = Str(required=True, validate=validate.Length(min=1, max=40))
    case_ids = fields.List(
        fields.Integer(strict=True), required=True, validate=validate.Length(min=1, max=20000)
    )
    data = fields.Dict(load_default=dict)
    all_or_nothing = fields.Boolean(load_default=False)


class BatchFailure(Schema):
    id = fields.Integer()
    status = fields.Integer()
    detail = Str()


class BatchOut(Schema):
    succeeded = fields.List(fields.Integer())
    failed = fields.List(fields.Nested(BatchFailure))


class ContactIn(Schema):
    phone = Str(required=True, validate=validate.Length(min=3, max=40))
    address = Str(required=True, validate=validate.Length(min=1, max=200))


class WindowIn(Schema):
    scope_code = Str(required=True)
    case_ids = fields.List(
        fields.Integer(strict=True), required=True, validate=validate.Length(min=1, max=20000)
    )
    contact = fields.Nested(ContactIn, required=True)
    title = Str(load_default=None, allow_none=True, validate=validate.Length(max=200))


class WindowOut(Schema):
    id = fields.Integer()
    code, title, stage, scope_code = Str(), Str(), Str(), Str()
    opens_at, closes_at = fields.DateTime(), fields.DateTime()
    first_day, last_day = Str(), Str()
    notice_url = Str()
    is_open = fields.Boolean()


class ObjectionIn(Schema):
    case_id = fields.Integer(required=True, strict=True)
    content = Str(required=True, validate=validate.Length(min=5, max=2000))
    contact = Str(load_default=None, allow_none=True, validate=validate.Length(max=200))


class EvaluationIn(Schema):
    scope_code = Str(required=True)
    year = fields.Integer(required=True, validate=validate.Range(min=2011, max=2100))
    sample_size = fields.Integer(required=True, validate=validate.Range(min=1, max=100000))
    seed = fields.Integer(required=True, validate=validate.Range(min=0, max=2**62))
    nonregistered_sample_size = fields.Integer(load_default=0, validate=validate.Range(min=0))
    evaluators = fields.List(Str(), load_default=None, allow_none=True)
    village_sample_size = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=10000)
    )
    households_per_village = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=10000)
    )


class AppealIn(Schema):
    household_id = fields.Integer(required=True, strict=True)
    reason = Str(required=True, validate=NonEmpty)


class AppealResolutionIn(Schema):
    household_id = fields.Integer(required=True, strict=True)
    upheld = fields.Boolean(required=True)
    resolution = Str(required=True, validate=NonEmpty)


class FindingIn(Schema):
    household_id = fields.Integer(required=True, strict=True)
    meets_criteria = fields.Boolean(load_default=None, allow_none=True)
    missed_poor = fields.Boolean(load_default=None, allow_none=True)
    satisfied = fields.Boolean(load_default=None, allow_none=True)


class ClockIn(Schema):
    now = fields.AwareDateTime(required=True)


# Transition data per trigger (CONTRACT.md); unknown fields are refused.
class SurveyData(Schema):
    surveyed_on = PastDate(required=True)
    surveyors = fields.List(
        Str(validate=validate.Length(min=1, max=50)),
        required=True,
        validate=validate.Length(min=2, max=20),
    )
    income_per_capita = fields.Float(
        required=True, allow_nan=False, validate=validate.Range(min=0, max=10_000_000)
    )
    indicators = fields.Dict(keys=Str(), values=fields.Boolean(), required=True)
    dibao_per_capita = fields.Float(
        load_default=None, allow_none=True, allow_nan=False, validate=validate.Range(min=0)
    )
    notes = Str(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class AppraiseData(Schema):
    meeting_on = PastDate(required=True)
    present = fields.Integer(required=True, validate=validate.Range(min=1, max=10000))
    votes_for = fields.Integer(required=True, validate=validate.Range(min=0, max=10000))
    votes_against = fields.Integer(required=True, validate=validate.Range(min=0, max=10000))
    representatives = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=10000)
    )
    minutes = Str(load_default=None, allow_none=True, validate=validate.Length(max=20000))


class VerifyData(Schema):
    result = Str(required=True, validate=validate.OneOf(["pass", "fail"]))
    visited_on = PastDate(required=True)
    notes = Str(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ReasonData(Schema):
    reason = Str(required=True, validate=NonEmpty)


class ObjectionFindingData(Schema):
    objection_id = fields.Integer(required=True, strict=True)
    finding = Str(required=True, validate=NonEmpty)


class ProposeData(Schema):
    indicators = fields.Dict(keys=Str(), values=fields.Boolean(), required=True)


class NoteData(Schema):
    note = Str(load_default=None, allow_none=True, validate=validate.Length(max=2000))


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
    note = Str(required=True, validate=NonEmpty)


class AnnouncementIn(Schema):
    scope_code = Str(required=True)
    year = fields.Integer(required=True, validate=validate.Range(min=2011, max=2100))
