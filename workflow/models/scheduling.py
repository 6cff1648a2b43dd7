"""What the scheduler keeps: its runs, and the daily digests of overdue steps."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import JSONType, UTCDateTime, db


class SchedulerRun(db.Model):
    """The last run of each scheduler job, for `exitflow scheduler --status`."""

    __tablename__ = "scheduler_runs"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    result: Mapped[dict] = mapped_column(JSONType, default=dict)


class Digest(db.Model):
    """A daily digest of overdue steps for a township or county, kept like a notice."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("region_code", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    overdue: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict] = mapped_column(JSONType)
    delivered_via: Mapped[str | None] = mapped_column(String(40))
