"""Cases of every procedure, and the sign-offs of their steps."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.extensions import JSONType, UTCDateTime, db


class Case(db.Model):
    """One procedure run for one subject and year; `version` guards against lost updates."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("kind", "household_id", "year", name="uq_cases_household_year"),
        UniqueConstraint("kind", "region_code", "year", name="uq_cases_region_year"),
        Index("ix_cases_path_state", "region_path", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    village_code: Mapped[str | None] = mapped_column(String(12), index=True)
    region_path: Mapped[str] = mapped_column(String(120))
    year: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    rule_set: Mapped[str] = mapped_column(String(40))
    window_id: Mapped[int | None] = mapped_column(Integer, index=True)  # current publicity
    # The time limit of the step the case waits for (rule set deadlines); the
    # scheduler sets `overdue` once it passes, a transition clears both.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    details: Mapped[CaseData | None] = relationship(lazy="select", uselist=False, viewonly=True)

    @property
    def data(self) -> dict:
        """The step data (from case_data)."""
        return dict(self.details.data) if self.details else {}


class CaseData(db.Model):
    """A case's step data (survey, appraisal, …), apart from the narrow, hot `cases` row.

    A county batch rewrites the state of thousands of cases; keeping the JSON
    elsewhere keeps those rows (and the pages the batch dirties) small.
    """

    __tablename__ = "case_data"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)


class SignOff(db.Model):
    """One person's signed step on a case (入户核实: one per verifier and round)."""

    __tablename__ = "signoffs"
    __table_args__ = (UniqueConstraint("case_id", "step", "round", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(Integer, default=1)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signer_name: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(8))
    visited_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
