"""Issuing notices: the plain-dict context, rendering once, storing the sha256, verifying."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from notices import render_pdf
from states.calendar import SHANGHAI
from workflow.errors import NotFound
from workflow.extensions import db
from workflow.models import Case, CaseData, Household, Notice, PublicityWindow, Region, WindowCase
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


def window_context(window: PublicityWindow, notice: Notice) -> dict:
    """The notice of a window as a plain dict: no ID numbers, phones or health data."""
    if window.kind == "household_exit":
        rows = [
            {
                "no": r.position,
                "group": r.group,
                "head_name": r.head_name,
                "people": r.size,
                "income": ((r.data or {}).get("survey") or {}).get("income_per_capita", ""),
            }
            for r in db.session.execute(
                select(
                    WindowCase.position,
                    Household.group,
                    Household.head_name,
                    Household.size,
                    CaseData.data,
                )
                .join(Case, Case.id == WindowCase.case_id)
                .join(CaseData, CaseData.case_id == Case.id)
                .join(Household, Household.id == Case.household_id)
                .where(WindowCase.window_id == window.id)
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
        "serial": notice.serial,
        "basis": BASIS,
        "steps_done": STEPS.get((window.kind, window.stage), []),
        "period": {"from": window.first_day, "to": window.last_day},
        **({"columns": columns} if columns else {}),
        "subject_label": SUBJECTS.get(window.kind, "贫困户"),
        "extra_columns": extra,
        "rows": rows,
        "contact": dict(window.contact or {}),
        "issued_on": notice.issued_at.astimezone(SHANGHAI).date().isoformat()
        if notice.issued_at.tzinfo
        else notice.issued_at.date().isoformat(),
        "verification": {
            "code": notice.code,
            "url": current_app.config["EXITFLOW_PUBLIC_URL"].rstrip("/")
            + f"/api/v1/notices/{notice.code}",
        },
    }


def _cache_path(code: str) -> Path:
    folder = Path(current_app.instance_path) / "notices"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{code}.pdf"


def window_pdf(window: PublicityWindow) -> bytes:
    """The window's notice PDF: rendered once, then served from instance/notices/."""
    notice = db.session.scalar(select(Notice).where(Notice.window_id == window.id))
    path = _cache_path(notice.code)
    if path.exists():
        pdf = path.read_bytes()
        if notice.sha256 and hashlib.sha256(pdf).hexdigest() == notice.sha256:
            return pdf
    context = notice.context or window_context(window, notice)
    pdf = render_pdf("publicity", context)
    digest = hashlib.sha256(pdf).hexdigest()
    if notice.sha256 and notice.sha256 != digest:
        logger.error("notice %s re-rendered differently; serving the stored context", notice.code)
    if not notice.sha256:
        notice.sha256, notice.context = digest, context
        db.session.commit()
    path.write_bytes(pdf)
    return pdf


def verify(code: str) -> dict:
    """Whether a code names a notice we issued, with what it was."""
    notice = db.session.scalar(select(Notice).where(Notice.code == code.strip().upper()))
    if notice is None:
        raise NotFound("查无此公告编号 (no notice with this code)", valid=False)
    return {
        "valid": True,
        "kind": notice.kind,
        "serial": notice.serial,
        "issuer": notice.issuer,
        "issued_at": notice.issued_at.isoformat(),
        "sha256": notice.sha256,
    }
