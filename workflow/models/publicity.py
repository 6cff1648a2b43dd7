"""Publicity windows (公示), the cases they list, objections, and issued notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import JSONType, UTCDateTime, db


class PublicityWindow(db.Model):
    """A posted window; `closes_at` is the timer the scheduler and the sweep fire on."""

    __tablename__ = "publicity_windows"
    __table_args__ = (Index("ix_windows_due", "closed_at", "closes_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # public verification code
    kind: Mapped[str] = mapped_column(String(20))  # procedure kind
    stage: Mapped[str] = mapped_column(String(20))  # village / township / ...
    scope_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    scope_path: Mapped[str] = mapped_column(String(120), index=True)
    title: Mapped[str] = mapped_column(String(200))
    issuer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issuer_name: Mapped[str] = mapped_column(String(100))  # the issuing body
    contact: Mapped[dict] = mapped_column(JSONType)
    period_rule: Mapped[str] = mapped_column(String(20))
    days: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class WindowCase(db.Model):
    """A case listed in a window, with the row printed on the notice."""

    __tablename__ = "window_cases"

    window_id: Mapped[int] = mapped_column(ForeignKey("publicity_windows.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


class Objection(db.Model):
    """An objection lodged by anyone during a window; never deleted."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("publicity_windows.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    content: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(50))  # 实名: the objector's name
    contact: Mapped[str | None] = mapped_column(String(200))
    # A keyed hash of the client address of an objection lodged online (never the
    # address itself): the per-client daily limit counts these; None at the office.
    client_hash: Mapped[str | None] = mapped_column(String(32))
    lodged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(
        String(12), default="open"
    )  # open/dismissed/upheld/superseded
    finding: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Notice(db.Model):
    """A rendered official notice: its bytes' sha256 and serial, verifiable by code."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    serial: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    window_id: Mapped[int | None] = mapped_column(ForeignKey("publicity_windows.id"), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[dict] = mapped_column(JSONType)
    replaces_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class NoticeFile(db.Model):
    """The PDF of a notice as issued: the record itself, never rendered again differently."""

    __tablename__ = "notice_files"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
