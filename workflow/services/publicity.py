"""Publicity windows: posting them, lodging objections, closing them when due."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlalchemy import func, insert, select, update

from states.calendar import HolidayDataMissing, publicity_period
from states.procedure import VIA_OBJECTION, VIA_PUBLICITY, VIA_SWEEP
from states.registry import PROCEDURES, procedure
from states.rules import load_rule_set
from workflow.clock import as_utc
from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import Case, Notice, Objection, PublicityWindow, Region, WindowCase
from workflow.services import transitions
from workflow.services.actors import PUBLIC, SYSTEM, Actor

logger = logging.getLogger(__name__)

TITLES = {
    ("household_exit", "village"): "{scope}{year}年拟退出贫困户名单公示",
    ("household_exit", "township"): "{scope}{year}年拟退出贫困户名单第二次公示",
    ("village_exit", "township"): "{scope}{year}年拟退出贫困村名单公示",
    ("county_exit", "county"): "{scope}{year}年贫困县退出公示",
}


def new_code() -> str:
    """A short public verification code (no 0/O/1/I to misread on paper)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def post(
    actor: Actor,
    scope_code: str,
    case_ids: list[int],
    contact: dict,
    title: str | None,
    now: datetime,
) -> PublicityWindow:
    """Post a window listing the cases, move them into publicity, and issue its notice."""
    issuers = {spec[0] for p in PROCEDURES.values() for spec in p.publicize.values()}
    if actor.role not in issuers:  # deny by default, before anything is looked up
        raise Forbidden(f"角色 {actor.role} 不能发布公示")
    scope = db.session.get(Region, scope_code)
    if scope is None or not actor.covers(scope.path):
        raise NotFound(f"地区 {scope_code} 不存在或不在您的辖区")
    if not case_ids:
        raise ValidationFailed("公示名单不能为空", {"case_ids": ["at least one case"]})
    rows = transitions.load_rows(case_ids)
    missing = [
        cid
        for cid in case_ids
        if cid not in rows or not rows[cid].region_path.startswith(scope.path)
    ]
    if missing:
        raise NotFound(f"案件 {missing[:10]} 不存在或不在 {scope.name} 范围内")
    states = {r.state for r in rows.values()}
    kinds = {r.kind for r in rows.values()}
    proc = procedure(next(iter(kinds)))
    if len(states) != 1 or len(kinds) != 1 or next(iter(states)) not in proc.publicize:
        raise Conflict("公示名单中的案件须为同一类型、处于同一待公示状态", states=sorted(states))
    role, stage, level = proc.publicize[next(iter(states))]
    if actor.role != role:
        raise Forbidden(f"此次公示应由 {role} 级用户发布 (issuer role {role})")
    if scope.level != level:
        raise ValidationFailed(f"此次公示的范围应为{level}", {"scope_code": [f"a {level}"]})
    rules = load_rule_set(next(iter(rows.values())).rule_set)
    try:
        period = publicity_period(now, rules.publicity_days, rules.period_rule)
    except HolidayDataMissing as err:
        raise Conflict(str(err), year=err.year) from None
    year = max(r.year for r in rows.values())
    window = PublicityWindow(
        code=new_code(),
        kind=proc.kind,
        stage=stage,
        scope_code=scope.code,
        scope_path=scope.path,
        title=title
        or TITLES.get((proc.kind, stage), "{scope}{year}年公示").format(
            scope=scope.name, year=year
        ),
        issuer_id=actor.id,
        issuer_name=_issuing_body(db.session.get(Region, actor.region_code) or scope),
        contact=contact,
        period_rule=str(rules.period_rule),
        days=rules.publicity_days,
        opens_at=now,
        closes_at=period.closes_at,
        first_day=period.first_day.isoformat(),
        last_day=period.last_day.isoformat(),
        version=1,
    )
    db.session.add(window)
    db.session.flush()
    outcome = transitions.fire_many(
        "publicize",
        case_ids,
        actor,
        {},
        now,
        via=VIA_PUBLICITY,
        all_or_nothing=True,
        rows=rows,
        audit_data={"window_id": window.id, "window_code": window.code},
    )
    if outcome.failed:
        db.session.rollback()
        raise Conflict("部分案件不能公示", failed=outcome.failed)
    db.session.execute(
        insert(WindowCase),
        [
            {"window_id": window.id, "case_id": cid, "position": i}
            for i, cid in enumerate(case_ids, start=1)
        ],
    )
    db.session.execute(
        update(Case).where(Case.id.in_(case_ids)).values(window_id=window.id),
        execution_options={"synchronize_session": False},
    )
    _issue_notice(window, scope, year, now)
    db.session.commit()
    logger.info(
        "window %s posted by %s: %d case(s), closes %s",
        window.code,
        actor.username,
        len(case_ids),
        window.closes_at.isoformat(),
    )
    return window


def _issuing_body(scope: Region) -> str:
    return {
        "village": f"{scope.name}村民委员会",
        "township": f"{scope.name}人民政府",
        "county": f"{scope.name}扶贫开发领导小组",
        "province": f"{scope.name}扶贫开发领导小组",
    }.get(scope.level, scope.name)


def _issue_notice(window: PublicityWindow, scope: Region, year: int, now: datetime) -> Notice:
    """The window's notice, its list frozen as posted (rendered later, never differently)."""
    from workflow.services import notices

    count = (
        db.session.scalar(
            select(func.count())
            .select_from(Notice)
            .where(Notice.serial.like(f"{scope.name}公示〔{year}〕%"))
        )
        or 0
    )
    return notices.issue(
        "publicity",
        notices.window_context(window),
        window.issuer_name,
        f"{scope.name}公示〔{year}〕{count + 1}号",
        now,
        window_id=window.id,
        code=window.code,
    )


def get_window(window_id: int, actor: Actor | None, now: datetime) -> PublicityWindow:
    """A window: public while open, else for users whose region covers it."""
    window = db.session.get(PublicityWindow, window_id)
    if window is None:
        raise NotFound(f"公示 {window_id} 不存在")
    if is_open(window, now):
        return window
    # After closing: users above the scope and those inside it (a village, its township's list).
    if actor is None or not (
        actor.covers(window.scope_path) or actor.region_path.startswith(window.scope_path)
    ):
        raise NotFound(f"公示 {window_id} 不存在或已结束")
    return window


def is_open(window: PublicityWindow, now: datetime) -> bool:
    """Open from posting until its closing time (never closed a second early)."""
    return window.closed_at is None and as_utc(window.opens_at) <= now < as_utc(window.closes_at)


def window_case_ids(window_id: int) -> list[int]:
    """The listed cases in notice order."""
    return list(
        db.session.scalars(
            select(WindowCase.case_id)
            .where(WindowCase.window_id == window_id)
            .order_by(WindowCase.position)
        )
    )


def lodge_objection(
    window_id: int, case_id: int, content: str, contact: str | None, now: datetime
) -> Objection:
    """Record a public objection and freeze the case it names (DOMAIN.md)."""
    window = db.session.get(PublicityWindow, window_id)
    if window is None:
        raise NotFound(f"公示 {window_id} 不存在")
    if not is_open(window, now):
        raise Conflict("公示期已结束,不能再提出异议")
    if not db.session.get(WindowCase, (window_id, case_id)):
        raise NotFound(f"案件 {case_id} 不在本次公示名单中")
    objection = Objection(
        window_id=window_id,
        case_id=case_id,
        content=content.strip(),
        contact=(contact or "").strip() or None,
        lodged_at=now,
        status="open",
    )
    db.session.add(objection)
    db.session.flush()
    transitions.fire_one(
        "object",
        case_id,
        PUBLIC,
        {},
        now,
        via=VIA_OBJECTION,
        extra_facts={"window_open": True},
        audit_data={"objection_id": objection.id, "window_id": window_id},
    )
    db.session.commit()
    logger.info(
        "objection %d lodged against case %d in window %s", objection.id, case_id, window.code
    )
    return objection


def due_windows(now: datetime) -> list[int]:
    """Ids of windows whose closing time has passed and that are not closed, oldest first."""
    return list(
        db.session.scalars(
            select(PublicityWindow.id)
            .where(PublicityWindow.closed_at.is_(None), PublicityWindow.closes_at <= now)
            .order_by(PublicityWindow.closes_at, PublicityWindow.id)
        )
    )


def close_window(window_id: int, now: datetime) -> int | None:
    """Close one due window and advance its cases still in publicity; None if not due."""
    window = db.session.execute(
        select(PublicityWindow).where(PublicityWindow.id == window_id).with_for_update()
    ).scalar_one_or_none()
    if window is None or window.closed_at is not None or as_utc(window.closes_at) > now:
        db.session.rollback()
        return None
    publicity_states = set(procedure(window.kind).publicity_states)
    ids = list(
        db.session.scalars(
            select(Case.id).where(Case.window_id == window.id, Case.state.in_(publicity_states))
        )
    )
    moved = 0
    if ids:
        outcome = transitions.fire_many(
            "close_window",
            ids,
            SYSTEM,
            {},
            now,
            via=VIA_SWEEP,
            extra_facts={"window_open": False},
            audit_data={"window_id": window.id},
        )
        moved = len(outcome.succeeded)
        for failure in outcome.failed:
            logger.error(
                "window %s: case %s did not advance: %s",
                window.code,
                failure["id"],
                failure["detail"],
            )
    window.closed_at = now
    window.version += 1
    db.session.commit()
    logger.info("window %s closed: %d case(s) advanced", window.code, moved)
    return moved


def sweep(now: datetime, dry_run: bool = False) -> dict:
    """Close every window due by now, oldest first; one bad window never blocks the others."""
    due = due_windows(now)
    db.session.rollback()
    result = {"due": len(due), "closed": 0, "cases_advanced": 0, "errors": []}
    if dry_run:
        return result
    for window_id in due:
        try:
            moved = close_window(window_id, now)
        except Exception as err:  # noqa: BLE001 - one bad window must not stop the sweep
            db.session.rollback()
            logger.exception("window %s could not be closed", window_id)
            result["errors"].append({"window_id": window_id, "error": str(err)})
            continue
        if moved is not None:
            result["closed"] += 1
            result["cases_advanced"] += moved
    return result
