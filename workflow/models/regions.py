"""Regions: province → city → county → township → village → group."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import db

LEVELS = ("province", "city", "county", "township", "village", "group")


class Region(db.Model):
    """An administrative region; `path` holds the codes from the root for subtree queries."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    # "/450000/451000/451099/" — a case or user is inside a region when its
    # path starts with the region's path; one indexed LIKE, no recursion.
    path: Mapped[str] = mapped_column(String(120), index=True)
    rural_population: Mapped[int | None] = mapped_column(Integer)
    is_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    # 偏远村: national evaluations include remote villages in their sample on purpose.
    remote: Mapped[bool] = mapped_column(Boolean, default=False)
    rule_set: Mapped[str | None] = mapped_column(String(40))
