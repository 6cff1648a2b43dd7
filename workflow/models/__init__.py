"""The stored rows of exitflow (SQLAlchemy 2 typed models)."""

from workflow.models.audit import AuditChain, AuditCheckpoint, AuditRecord, AuditVerification
from workflow.models.cases import Case, CaseData, SignOff
from workflow.models.evaluation import Evaluation, EvaluationSample, Finding
from workflow.models.households import Household, Member
from workflow.models.publicity import (
    Notice,
    NoticeFile,
    Objection,
    PublicityWindow,
    WindowCase,
)
from workflow.models.regions import Region
from workflow.models.scheduling import Digest, SchedulerRun
from workflow.models.statistics import RegionStat, StatsSnapshot
from workflow.models.users import ApiToken, IdempotencyRecord, User

__all__ = [
    "ApiToken",
    "AuditChain",
    "AuditCheckpoint",
    "AuditRecord",
    "AuditVerification",
    "Case",
    "Digest",
    "CaseData",
    "Evaluation",
    "EvaluationSample",
    "Finding",
    "Household",
    "IdempotencyRecord",
    "Member",
    "Notice",
    "NoticeFile",
    "Objection",
    "PublicityWindow",
    "Region",
    "RegionStat",
    "SchedulerRun",
    "SignOff",
    "StatsSnapshot",
    "User",
    "WindowCase",
]
