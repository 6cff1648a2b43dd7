"""Publicity windows: posting them, lodging objections (closing them: services/sweep.py)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import aliased

from states.calendar import SHANGHAI, HolidayDataMissing, publicity_period
from states.procedure import VIA_OBJECTION, VIA_PUBLICITY
from states.registry import PROCEDURES, procedure
from states.rules import load_rule_set
from workflow.clock import as_utc, local_today
from workflow.errors import Conflict, ExitflowError, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.inputs import text_problem
from workflow.models import Case, Notice, Objection, PublicityWindow, Region, WindowCase
from workflow.security import TooManyRequests
from workflow.services import transitions
from workflow.services.actors import PUBLIC, Actor
from workflow.services.sweep import close_window, due_windows, sweep  # noqa: F401

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


class Gone(ExitflowError):
    """A closed window's names, withdrawn from public view after the retention period."""

    status, title = 410, "Gone"


# The procedure roles that read a closed window of their own region; the system
# administrator, the audit administrator and evaluators see what the public sees
# (三员分立, least privilege).
REGION_READERS = frozenset({"village", "township", "county", "city", "province"})


def reads_region(actor: Actor | None, window: PublicityWindow) -> bool:
    """Users of the window's region: above its scope, or inside it (a village, its township's list)."""
    return (
        actor is not None
        and actor.role in REGION_READERS
        and (actor.covers(window.scope_path) or actor.region_path.startswith(window.scope_path))
    )


def pending_states(kind: str, stage: str) -> frozenset[str]:
    """States in which a case listed in a window of this stage still awaits its announcement.

    The procedure's main path, in the declaration order of its states, from the
    window's publicity state up to `announced` (not included), and `objection_review`.
    """
    proc = procedure(kind)
    order = proc.state_codes()
    starts = [order.index(s) for s, st in proc.publicity_states.items() if st == stage]
    if not starts:
        return frozenset()
    end = order.index("announced") if "announced" in order else len(order)
    states = set(order[min(starts) : end])
    if "objection_review" in order:
        states.add("objection_review")
    return frozenset(states)


def names_public(window: PublicityWindow, now: datetime) -> bool:
    """Whether the window's list with names (PDF and page) is public now.

    Open windows are. After the period, EXITFLOW_NOTICE_RETENTION decides:
    a number N keeps the names public until N days after the end of the period
    (`closes_at`: 24:00 of its last day); `announcement` (the default) keeps them
    public while at least one listed case still awaits its announcement — its
    state is in `pending_states` and it is not listed again in a later window of
    the same stage. A case announced (公告), exited, deferred, sent back to the
    survey by an upheld objection, a failed verification or evaluation, has left
    this list: when every listed case has, the names leave public view. The
    notice's code verifies it for ever (GET /api/v1/notices/{code}).
    """
    if is_open(window, now):
        return True
    retention = current_app.config.get("EXITFLOW_NOTICE_RETENTION", "announcement")
    if retention != "announcement":
        return now < as_utc(window.closes_at) + timedelta(days=int(retention))
    pending = pending_states(window.kind, window.stage)
    if not pending:
        return False
    later = aliased(PublicityWindow)
    still = db.session.scalar(
        select(WindowCase.case_id)
        .join(Case, Case.id == WindowCase.case_id)
        .outerjoin(later, later.id == Case.window_id)
        .where(
            WindowCase.window_id == window.id,
            Case.state.in_(sorted(pending)),
            or_(Case.window_id == window.id, later.stage != window.stage),
        )
        .limit(1)
    )
    return still is not None


def window_access(window: PublicityWindow, actor: Actor | None, now: datetime) -> str:
    """`public` while the names are public, `region` for its own users after; else 410 Gone."""
    if names_public(window, now):
        return "public"
    if reads_region(actor, window):
        return "region"
    year, month, day = (int(part) for part in window.last_day.split("-"))
    raise Gone(
        f"该公示已于{year}年{month}月{day}日结束,名单已不再公开;公告仍可凭核验码核验真伪",
        code=window.code,
        verify_url=current_app.config["EXITFLOW_PUBLIC_URL"].rstrip("/")
        + f"/api/v1/notices/{window.code}",
    )


def get_window(window_id: int, actor: Actor | None, now: datetime) -> PublicityWindow:
    """A window: public while its names are (`names_public`), then for users of its region.

    Windows are posted publicly, so that one exists is no secret: after the retention
    everybody else (signed in or not) gets the same 410 Gone.
    """
    window = db.session.get(PublicityWindow, window_id)
    if window is None:
        raise NotFound(f"公示 {window_id} 不存在")
    window_access(window, actor, now)
    return window


def notice_access(notice: Notice, actor: Actor | None, now: datetime) -> str:
    """A notice's PDF by its code: a window's notice as its window (`window_access`).

    Announcements (公告) and other notices without a window stay public.
    """
    if notice.window_id is None:
        return "public"
    return window_access(db.session.get(PublicityWindow, notice.window_id), actor, now)


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


# Objections (实名, as every notice promises): the same rules on every path (the API,
# the public web form, the office); the web form adds its anti-bot checks.
NAME_MIN, NAME_MAX = 2, 50
CONTACT_MAX = 100
CONTENT_MIN, CONTENT_MAX = 5, 2000
# Per calendar day (Asia/Shanghai); EXITFLOW_OBJECTION_LIMITS overrides them.
OBJECTION_LIMITS = {"per_client_per_window_per_day": 5, "per_window_per_day": 200}
_PHONE = re.compile(r"(?<!\d)(?:\+?86)?(?:1[3-9]\d{9}|0\d{9,11}|\d{7,8})(?!\d)")
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def _has_phone(contact: str) -> bool:
    """A mobile (11 digits), a landline with its area code, or a local 7-8 digit number."""
    return bool(_PHONE.search(re.sub(r"[\s\-()()]", "", contact)))


def objection_problems(name: str, contact: str, content: str) -> dict[str, list[str]]:
    """What is wrong with an objection's fields (stripped), by field; {} when acceptable."""
    errors: dict[str, list[str]] = {}
    if not NAME_MIN <= len(name) <= NAME_MAX:
        errors["name"] = [f"请填写真实姓名({NAME_MIN}至{NAME_MAX}个字)"]
    elif problem := text_problem(name, NAME_MAX):
        errors["name"] = [problem]
    elif not any(ch.isalpha() for ch in name):
        errors["name"] = ["姓名须含汉字或字母"]
    if not contact:
        errors["contact"] = ["请填写联系电话或联系地址,以便答复"]
    elif problem := text_problem(contact, CONTACT_MAX):
        errors["contact"] = [problem]
    elif not _has_phone(contact) and not (len(contact) >= 5 and len(_CJK.findall(contact)) >= 2):
        errors["contact"] = ["联系方式须为手机号、带区号的固定电话,或不少于5个字的联系地址"]
    if not CONTENT_MIN <= len(content) <= CONTENT_MAX:
        errors["content"] = [f"异议内容须为{CONTENT_MIN}至{CONTENT_MAX}个字"]
    elif problem := text_problem(content, CONTENT_MAX, multiline=True):
        errors["content"] = [problem]
    return errors


def client_hash(client: str) -> str:
    """A keyed hash of a client address: counted, never stored as such."""
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, f"objection-client:{client}".encode(), hashlib.sha256).hexdigest()[:32]


def records_at_office(clerk: Actor | None, window: PublicityWindow) -> bool:
    """A village or township clerk of the window's area, recording an objection received
    at the office (the objector's name and contact as they gave them)."""
    return (
        clerk is not None and clerk.role in ("village", "township") and reads_region(clerk, window)
    )


def _check_limits(window: PublicityWindow, digest: str, now: datetime) -> None:
    """At most so many online objections per window, and per client and window, a day."""
    limits = {**OBJECTION_LIMITS, **current_app.config.get("EXITFLOW_OBJECTION_LIMITS", {})}
    today = local_today(now)
    since = datetime.combine(today, time(0), SHANGHAI)
    until = since + timedelta(days=1)
    per_window, per_client = db.session.execute(
        select(
            func.count(),
            func.count().filter(Objection.client_hash == digest),
        ).where(
            Objection.window_id == window.id,
            Objection.client_hash.is_not(None),
            Objection.lodged_at >= since,
        )
    ).one()
    retry = max(1, int((until - now).total_seconds()))
    where = "请改用公示所列电话或地址反映,或明天再提交"
    if per_window >= limits["per_window_per_day"]:
        raise TooManyRequests(f"本公示今日在线提交的异议已达上限,{where}", retry_after=retry)
    if per_client >= limits["per_client_per_window_per_day"]:
        raise TooManyRequests(
            f"同一网络地址对同一公示每天最多提交 {limits['per_client_per_window_per_day']} 条异议,"
            f"{where}",
            retry_after=retry,
        )


def lodge_objection(
    window_id: int,
    case_id: int,
    content: str,
    contact: str | None,
    now: datetime,
    *,
    name: str | None,
    client: str | None = None,
    clerk: Actor | None = None,
) -> Objection:
    """Record a public objection and freeze the case it names (DOMAIN.md).

    Real name (2-50 characters) and a contact (a phone number or an address) are
    required, the content is 5-2000 characters. An objection lodged online (`client`:
    its address) counts against the per-window and per-client daily limits; one a
    clerk of the window's area records at the office (`clerk`) does not.
    """
    name, contact, content = (name or "").strip(), (contact or "").strip(), content.strip()
    errors = objection_problems(name, contact, content)
    if errors:
        raise ValidationFailed("异议须实名并留下联系方式,内容须为5至2000个字", errors)
    window = db.session.execute(
        select(PublicityWindow).where(PublicityWindow.id == window_id).with_for_update()
    ).scalar_one_or_none()  # one objection at a time per window: the daily counts hold
    if window is None:
        raise NotFound(f"公示 {window_id} 不存在")
    if not is_open(window, now):
        raise Conflict("公示期已结束,不能再提出异议")
    office = records_at_office(clerk, window)
    digest = None
    if not office:
        digest = client_hash(client or "unknown")
        _check_limits(window, digest, now)
    if not db.session.get(WindowCase, (window_id, case_id)):
        raise NotFound(f"案件 {case_id} 不在本次公示名单中")
    if office:
        contact = f"{contact}(由{clerk.display_name[:40]}在办公室代为登记)"
    objection = Objection(
        window_id=window_id,
        case_id=case_id,
        content=content,
        name=name,
        contact=contact,
        client_hash=digest,
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
        "objection %d lodged against case %d in window %s%s",
        objection.id,
        case_id,
        window.code,
        " (at the office)" if office else "",
    )
    return objection
