"""Registered poor households (建档立卡贫困户) and their members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.extensions import UTCDateTime, db

STATUSES = ("poor", "exited", "returned")


class Household(db.Model):
    """A household; `registered` is False for the ordinary households 漏评 samples come from."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    village_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    region_path: Mapped[str] = mapped_column(String(120), index=True)
    group: Mapped[str] = mapped_column(String(50))
    head_name: Mapped[str] = mapped_column(String(50))
    # The ID number encrypted (key from configuration), its keyed hash (unique) and
    # its masked form: see workflow/personal_data.py.
    head_id_cipher: Mapped[str] = mapped_column(String(255))
    head_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Indexed for the near-miss check (services/households.py: screen_near_misses).
    head_id_masked: Mapped[str] = mapped_column(String(18), index=True)
    poverty_cause: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="poor", index=True)
    registered: Mapped[bool] = mapped_column(Boolean, default=True)
    size: Mapped[int] = mapped_column(Integer, default=1)  # people, head included
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    members: Mapped[list[Member]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="Member.id"
    )


class Member(db.Model):
    """A member of a household other than its head."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    relation: Mapped[str] = mapped_column(String(20))
    id_cipher: Mapped[str] = mapped_column(String(255))
    id_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_masked: Mapped[str] = mapped_column(String(18), index=True)

    household: Mapped[Household] = relationship(back_populates="members")
