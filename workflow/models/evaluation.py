"""Third-party evaluation batches (第三方评估), their samples and findings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import JSONType, UTCDateTime, db


class Evaluation(db.Model):
    """A batch over a scope and year; the seed makes its sample reproducible."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    scope_path: Mapped[str] = mapped_column(String(120))
    year: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    sample_size: Mapped[int] = mapped_column(Integer)
    nonregistered_sample_size: Mapped[int] = mapped_column(Integer, default=0)
    evaluators: Mapped[list] = mapped_column(JSONType, default=list)  # usernames; empty = any
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    passed: Mapped[bool | None] = mapped_column(Boolean)
    metrics: Mapped[dict | None] = mapped_column(JSONType)
    design: Mapped[dict] = mapped_column(JSONType, default=dict)  # how the sample was drawn


class EvaluationSample(db.Model):
    """A sampled household; `case_id` is empty for a non-registered household (漏评)."""

    __tablename__ = "evaluation_samples"
    __table_args__ = (UniqueConstraint("evaluation_id", "household_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    village_code: Mapped[str] = mapped_column(String(12))
    registered: Mapped[bool] = mapped_column(Boolean)
    evaluator: Mapped[str | None] = mapped_column(String(64))  # assigned; None = any of them


class Finding(db.Model):
    """An evaluator's finding on one sampled household (the latest one counts)."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("evaluation_id", "household_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    meets_criteria: Mapped[bool | None] = mapped_column(Boolean)
    missed_poor: Mapped[bool | None] = mapped_column(Boolean)
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    # 无法走访: why the household could not be visited; such a finding has no answers
    # and counts against the batch (services.evaluation.metrics).
    unreachable_reason: Mapped[str | None] = mapped_column(Text)
    people: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # 申诉: the county may dispute a finding once; the province resolves it.
    appeal_status: Mapped[str | None] = mapped_column(String(10))  # open/upheld/rejected
    appeal_reason: Mapped[str | None] = mapped_column(Text)
    appeal_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    appeal_resolution: Mapped[str | None] = mapped_column(Text)
    appeal_resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
