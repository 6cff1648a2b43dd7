"""Issuing notices: the plain-dict context, rendering once, storing the sha256, verifying."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import select, true

from notices import render_many, render_pdf
from states.calendar import SHANGHAI
from workflow.database import begin_write, end_transaction
from workflow.errors import NotFound
from workflow.extensions import db
from workflow.models import (
    Case,
    CaseData,
    Household,
    Notice,
    NoticeFile,
    PublicityWindow,
    Region,
    WindowCase,
)
from workflow.services.regions import incidence

logger = logging.getLogger(__name__)

BASIS = (
    "根据中共中央办公厅、国务院办公厅《关于建立贫困退出机制的意见》(厅字〔2016〕16号)"
    "和贫困户退出程序的规定"
)
STEPS = {
    ("household_exit", "village"): ["摸底调查", "村民代表民主评议"],
    ("household_exit", "township"): [
        "摸底调查",
        "村民代表民主评议",
        "村内第一次公示",
        "乡镇入户核实",
    ],
    ("village_exit", "township"): ["村级申请", "乡镇审核", "县级核查"],
    ("county_exit", "county"): ["县级申请", "市级初审", "省级核查"],
}
SUBJECTS = {"household_exit": "贫困户", "village_exit": "贫困村", "county_exit": "贫困县"}


def window_context(window: PublicityWindow, current: bool = False) -> dict:
    """The notice of a window as a plain dict: no ID numbers, phones or health data."""
    if window.kind == "household_exit":
        from json import loads

        from workflow.services.bulk import data_path

        # Only the income crosses from the case's data (its JSON text, or NULL
        # when the survey has none), not the whole survey of every household.
        income = data_path(("survey", "income_per_capita"), db.session.get_bind().dialect.name)
        rows = [
            {
                "no": position,
                "group": group,
                "head_name": head_name,
                "people": size,
                "income": "" if text is None else loads(text),
            }
            for position, group, head_name, size, text in db.session.execute(
                select(
                    WindowCase.position,
                    Household.group,
                    Household.head_name,
                    Household.size,
                    income,
                )
                .join(Case, Case.id == WindowCase.case_id)
                .join(CaseData, CaseData.case_id == Case.id)
                .join(Household, Household.id == Case.household_id)
                .where(WindowCase.window_id == window.id)
                # a correction lists the cases still under publicity, not the deferred
                .where(Case.state != "deferred" if current else true())
                .order_by(WindowCase.position)
            )
        ]
        extra = [{"key": "income", "label": "人均纯收入(元)"}]
        columns = None
    else:  # a village or county window lists regions with their live incidence
        rows, extra = [], [{"key": "incidence", "label": "贫困发生率(%)"}]
        parent_label, name_label = (
            ("所属乡镇", "村名") if window.kind == "village_exit" else ("所属市", "县名")
        )
        columns = [
            {"key": "parent", "label": parent_label},
            {"key": "name", "label": name_label},
            {"key": "population", "label": "农业户籍人口"},
        ]
        for position, code in db.session.execute(
            select(WindowCase.position, Case.region_code)
            .join(Case, Case.id == WindowCase.case_id)
            .where(WindowCase.window_id == window.id)
            .order_by(WindowCase.position)
        ):
            region = db.session.get(Region, code)
            parent = db.session.get(Region, region.parent_code) if region.parent_code else None
            rate = incidence(region)["incidence_rate"]
            rows.append(
                {
                    "no": position,
                    "parent": parent.name if parent else "",
                    "name": region.name,
                    "population": region.rural_population or 0,
                    "incidence": "" if rate is None else f"{rate:.2f}",
                }
            )
    return {
        "title": window.title,
        "issuer": window.issuer_name,
        "basis": BASIS,
        "steps_done": STEPS.get((window.kind, window.stage), []),
        "period": {"from": window.first_day, "to": window.last_day},
        **({"columns": columns} if columns else {}),
        "subject_label": SUBJECTS.get(window.kind, "贫困户"),
        "extra_columns": extra,
        "rows": rows,
        "contact": dict(window.contact or {}),
        "issued_on": window.opens_at.astimezone(SHANGHAI).date().isoformat(),
    }


def issue(
    kind: str,
    context: dict,
    issuer: str,
    serial: str,
    now: datetime,
    window_id: int | None = None,
    replaces: Notice | None = None,
    code: str | None = None,
) -> Notice:
    """Record a notice with its context frozen as issued; caller commits."""
    from workflow.services.publicity import new_code

    code = code or new_code()
    context = {
        **context,
        "serial": serial,
        "verification": {"code": code, "url": _verify_url(code)},
    }
    notice = Notice(
        code=code,
        kind=kind,
        serial=serial,
        issuer=issuer,
        issued_at=now,
        window_id=window_id,
        context=context,
        replaces_id=replaces.id if replaces else None,
    )
    db.session.add(notice)
    db.session.flush()
    return notice


def _verify_url(code: str) -> str:
    return current_app.config["EXITFLOW_PUBLIC_URL"].rstrip("/") + f"/api/v1/notices/{code}"


def pdf(notice: Notice) -> bytes:
    """The notice's PDF: the stored bytes, or rendered once from its frozen context."""
    stored = db.session.get(NoticeFile, notice.id)
    if stored is not None:
        return stored.pdf
    notice_id, kind, context = notice.id, notice.kind, notice.context
    end_transaction()  # render with no transaction open (on SQLite: no lock held)
    data = render_pdf(kind, context)
    begin_write()
    data = _store(notice_id, data)
    db.session.commit()
    return data


def _store(notice_id: int, data: bytes) -> bytes:
    """Keep the first rendering of a notice and return the bytes kept.

    Two requests (or a request and the scheduler) may render the same notice at once;
    the notice row is locked, so the second finds the first's bytes and serves those.
    """
    notice = db.session.execute(
        select(Notice).where(Notice.id == notice_id).with_for_update()
    ).scalar_one()
    kept = db.session.execute(
        select(NoticeFile.pdf).where(NoticeFile.notice_id == notice_id)
    ).scalar()
    if kept is not None:
        return kept
    db.session.add(NoticeFile(notice_id=notice_id, pdf=data))
    notice.sha256 = hashlib.sha256(data).hexdigest()
    return data


def render_pending(limit: int = 300) -> int:
    """Render notices issued but not yet rendered, on every core (the scheduler's job)."""
    pending = db.session.execute(
        select(Notice.id, Notice.kind, Notice.context)
        .outerjoin(NoticeFile, NoticeFile.notice_id == Notice.id)
        .where(NoticeFile.notice_id.is_(None))
        .order_by(Notice.id)
        .limit(limit)
    ).all()
    db.session.rollback()  # no transaction (on SQLite: no write lock) while rendering
    if not pending:
        return 0
    rendered = render_many([(row.kind, row.context) for row in pending])
    for row, data in zip(pending, rendered, strict=True):
        _store(row.id, data)
    db.session.commit()
    logger.info("rendered %d notice(s)", len(pending))
    return len(pending)


def window_pdf(window: PublicityWindow) -> bytes:
    """The PDF of the window's current notice (the latest correction, if any)."""
    notice = db.session.scalar(
        select(Notice).where(Notice.window_id == window.id).order_by(Notice.id.desc()).limit(1)
    )
    return pdf(notice)


def by_code(code: str) -> Notice:
    """A notice by its public code."""
    notice = db.session.scalar(select(Notice).where(Notice.code == code.strip().upper()))
    if notice is None:
        raise NotFound("查无此公告编号 (no notice with this code)", valid=False)
    return notice


def verify(code: str) -> dict:
    """Whether a code names a notice we issued, with what it was and what replaced it."""
    notice = by_code(code)
    replaced_by = db.session.scalar(select(Notice.code).where(Notice.replaces_id == notice.id))
    replaces = db.session.get(Notice, notice.replaces_id) if notice.replaces_id else None
    return {
        "valid": True,
        "kind": notice.kind,
        "serial": notice.serial,
        "issuer": notice.issuer,
        "issued_at": notice.issued_at.isoformat(),
        "sha256": notice.sha256,
        "replaced_by": replaced_by,
        "replaces": replaces.code if replaces else None,
    }


def correct(actor, code: str, note: str, now: datetime) -> Notice:
    """Issue a correction of a window notice: a new notice naming the one it replaces."""
    from workflow.errors import Forbidden

    old = by_code(code)
    window = db.session.get(PublicityWindow, old.window_id) if old.window_id else None
    if window is None:
        raise NotFound("只有公示可以更正")
    if actor.id != window.issuer_id:
        raise Forbidden("只有原发布人可以发布更正")
    if db.session.scalar(select(Notice.id).where(Notice.replaces_id == old.id)):
        from workflow.errors import Conflict

        raise Conflict("该公示已有更正,请更正最新的一份")
    serial = old.serial.replace("号", "号(更正)") if "更正" not in old.serial else old.serial
    context = window_context(window, current=True)
    context["title"] = f"{window.title}(更正)"
    context["issued_on"] = now.astimezone(SHANGHAI).date().isoformat()
    context["correction"] = f"本公示更正并替代{old.serial}:{note}"
    notice = issue("publicity", context, old.issuer, serial, now, window_id=window.id, replaces=old)
    db.session.commit()
    return notice
