"""Materialized statistics: per-region counts, replaced as a whole by the scheduler.

Never updated by a transition: a counter row per region would make every county's
writes wait on the province's row (the reason the audit chains are split per
county). The scheduler recomputes the whole table from `cases`, `households` and
`regions` every EXITFLOW_STATS_SECONDS and swaps it in one short transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import UTCDateTime, db


class RegionStat(db.Model):
    """Counts of one region's subtree (the region included) for one kind, year and state.

    kind is a case kind (household_exit, village_exit, county_exit) with the cases
    in `state` that year; or `register` (year 0): the registered households by
    status (poor, exited, returned); or `population` (year 0, state `rural`): the
    rural population in `people` (the region's own figure, else its villages' sum).
    Pages read rows by region_code (the primary key's first column) and nothing else:
    no other index, since every refresh rewrites every row.
    """

    __tablename__ = "region_stats"

    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(12))
    cases: Mapped[int] = mapped_column(Integer, default=0)
    households: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)


class StatsSnapshot(db.Model):
    """When the materialized statistics were taken (`as_of`) and what the refresh cost."""

    __tablename__ = "stats_snapshots"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    seconds: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)
