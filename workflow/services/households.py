"""Households: registering them with their members, reading them with IDs masked.

Registering checks that the head's ID number is not registered yet, and that check
must not become a way to learn ID numbers (issue #10): whoever may register could
otherwise send every candidate of a masked number (430623********1234 leaves about
4,000) and be told which one is taken. So a duplicate is named plainly (which row,
which household) only to a caller who may read that household's full ID number
anyway (`sees_full_ids`: its own village and township); any other duplicate refuses
the whole request with one fixed answer that names no row and no number. Every hit
is audited, and an account that draws more of those refusals than
EXITFLOW_ID_PROBE_LIMIT (3) in an hour is disabled as a suspected probe.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import String, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from states.calendar import SHANGHAI
from states.identity import id_number_problem, mask_id_number, normalize_id_number
from workflow import personal_data
from workflow.errors import Conflict, ExitflowError, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import AuditRecord, Household, Member, Region, User
from workflow.services import audit
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)

# 三员分立: the system administrator reads and writes no household data.
WRITERS = {"village", "township", "county"}
READERS = {"village", "township", "county", "city", "province"}

# The one answer to a duplicate the caller may not see: the same bytes whichever
# number matched and however many did, so nothing in it tells a row or a number.
REFUSED_REGISTER = (
    "该户主身份证号已被登记。为保护个人信息,不显示登记在哪一户;请联系乡镇或县扶贫办核实"
)
REFUSED_IMPORT = (
    "文件中有户主身份证号已被登记。为保护个人信息,不显示是哪一行、哪一个号码;"
    "已暂停导入,未导入任何数据,请联系乡镇或县扶贫办核实"
)
RACED = "登记时该身份证号恰被同时登记,未保存任何数据,请重试"
LOCKED = "您的账户因疑似身份证号探测已被停用,请联系系统管理员"

HIT = "duplicate_id_hit"  # audit trigger of every duplicate found in the register
PROBE_LOCK = "id_probe_lock"  # audit trigger of an account disabled as a probe
PROBE_LIMIT = 3  # refused requests per PROBE_WINDOW; EXITFLOW_ID_PROBE_LIMIT overrides
PROBE_WINDOW = timedelta(hours=1)
PROBE_SLACK = timedelta(minutes=10)  # see probe_count
MAX_AUDITED_IDS = 1000  # household ids named in one hit record (the count is always whole)


def _validate(values: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    problem = id_number_problem(values.get("head_id_number", ""))
    if problem:
        errors["head_id_number"] = [problem]
    seen = {normalize_id_number(values.get("head_id_number", ""))}
    for i, m in enumerate(values.get("members") or []):
        problem = id_number_problem(m.get("id_number", ""))
        number = normalize_id_number(m.get("id_number", ""))
        if problem:
            errors[f"members.{i}.id_number"] = [problem]
        elif number in seen:
            errors[f"members.{i}.id_number"] = ["同一身份证号在本户中重复出现"]
        seen.add(number)
    return errors


def create(
    actor: Actor, values: dict, now: datetime, commit: bool = True, screened: bool = False
) -> Household:
    """Register a household in a village inside the actor's region.

    The building block of `register` (a person's request, audited), of the import
    (audited once per file) and of seeding. `screened` means the caller already
    checked the head's ID number with `screen_duplicates` (an import, for all rows
    in one query).
    """
    if actor.role not in WRITERS:
        raise Forbidden("您的角色不能登记贫困户")
    village = db.session.get(Region, values["village_code"])
    if village is None or village.level != "village":
        raise ValidationFailed("村不存在", {"village_code": ["unknown village"]})
    if not actor.covers(village.path):
        raise Forbidden("该村不在您的辖区")
    errors = _validate(values)
    if errors:
        raise ValidationFailed("身份证号有误", errors)
    head_id = normalize_id_number(values["head_id_number"])
    head = personal_data.protect(head_id)
    if not screened:
        # The register is consulted last, for a request that is otherwise valid:
        # a request refused for another reason never answers whether a number exists.
        hits = screen_duplicates(actor, [head["hash"]], now, "register", Conflict(REFUSED_REGISTER))
        if hits:
            hit = hits[head["hash"]]
            raise Conflict(
                f"身份证号 {mask_id_number(head_id)} 的户主已登记"
                f"(贫困户 {hit.household_id},村代码 {hit.village_code})",
                household_id=hit.household_id,
            )
    members = []
    for m in values.get("members") or []:
        number = personal_data.protect(normalize_id_number(m["id_number"]))
        members.append(
            Member(
                name=m["name"],
                relation=m["relation"],
                id_cipher=number["cipher"],
                id_hash=number["hash"],
                id_masked=number["masked"],
            )
        )
    household = Household(
        village_code=village.code,
        region_path=village.path,
        group=values["group"],
        head_name=values["head_name"],
        head_id_cipher=head["cipher"],
        head_id_hash=head["hash"],
        head_id_masked=head["masked"],
        poverty_cause=values.get("poverty_cause"),
        status="poor",
        registered=values.get("registered", True),
        size=1 + len(members),
        created_at=now,
        members=members,
    )
    db.session.add(household)
    if commit:
        commit_registrations()
    return household


def register(actor: Actor, values: dict, now: datetime) -> Household:
    """A person registers one household: `create`, and the audit record of it."""
    household = create(actor, values, now, commit=False)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(RACED) from None
    audit.record_event(
        "register_household",
        actor,
        now,
        {
            "household_id": household.id,
            "head_id_masked": household.head_id_masked,
            "village_code": household.village_code,
            "size": household.size,
        },
        kind="household",
        region_path=household.region_path,
    )
    commit_registrations()
    return household


def commit_registrations(raced: ExitflowError | None = None) -> None:
    """Commit new households; a head registered by someone else meanwhile is `raced`.

    The unique index on the head's hash is the last word when two requests register
    the same number at once (PostgreSQL; SQLite runs one writer at a time). The
    answer names nothing: a retry goes through `screen_duplicates` like any request.
    """
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise (raced or Conflict(RACED)) from None


@dataclass(frozen=True)
class Hit:
    """A registered household whose head's ID number the caller sent again."""

    household_id: int
    village_code: str
    region_path: str


def sees_plainly(actor: Actor, region_path: str) -> bool:
    """Whether a duplicate in this household may be named to the actor.

    Naming the row of a duplicate confirms a full ID number, so only those who may
    read it on the household page (DOMAIN.md: its own village and township, i.e. a
    village or township user whose region holds the household) are told plainly.
    A county, city or province user sees masked numbers only, even in its own
    county, so a plain answer would hand it every full number of its subtree. The
    operator at the server's console (no user: `exitflow import-households`
    without --user) holds the data key anyway.
    """
    if actor.id is None:
        return actor.role in WRITERS
    return actor.role in ("village", "township") and actor.covers(region_path)


def screen_duplicates(
    actor: Actor,
    hashes: Iterable[str],
    now: datetime,
    channel: str,
    refusal: ExitflowError,
    details: dict | None = None,
) -> dict[str, Hit]:
    """Check keyed hashes of head ID numbers against the register, in one query.

    Returns the hits the actor may be told of plainly ({} when there is none). When
    any hit lies outside the actor's sight, raises `refusal` (the caller's one fixed
    answer) instead, or Forbidden when this refusal makes the account a probe. Every
    hit is written to the audit record (who, when, how many, which households, and
    `details` such as the file's sha256) and committed before the answer leaves.
    """
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            Household.head_id_hash, Household.id, Household.village_code, Household.region_path
        ).where(_text_in(Household.head_id_hash, wanted))
    ).all()
    if not rows:
        return {}
    hits = {r.head_id_hash: Hit(r.id, r.village_code, r.region_path) for r in rows}
    refused = not all(sees_plainly(actor, h.region_path) for h in hits.values())
    ids = sorted(h.household_id for h in hits.values())
    audit.record_event(
        HIT,
        actor,
        now,
        {
            "channel": channel,
            "answer": "refused" if refused else "plain",
            "hits": len(ids),
            "household_ids": ids[:MAX_AUDITED_IDS],
            "checked": len(wanted),
            **(details or {}),
        },
        kind="household",
        region_path=actor.region_path,
    )
    if not refused:
        db.session.commit()
        return hits
    logger.info(
        "%s: %d registered ID number(s) outside %s's sight, refused",
        channel,
        len(ids),
        actor.username,
    )
    if actor.id is not None:
        _count_probe(actor, now)
    db.session.commit()
    raise refusal


def probe_limit() -> int:
    """Refused requests an account may draw per hour (EXITFLOW_ID_PROBE_LIMIT, default 3)."""
    value = current_app.config.get("EXITFLOW_ID_PROBE_LIMIT") if has_app_context() else None
    if value is None:
        value = os.environ.get("EXITFLOW_ID_PROBE_LIMIT")
    if value is None or value == "":
        return PROBE_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = -1
    if limit < 0:
        logger.error("EXITFLOW_ID_PROBE_LIMIT=%r is not a count; using %d", value, PROBE_LIMIT)
        return PROBE_LIMIT
    return limit


def probe_count(actor_id: int, now: datetime) -> int:
    """Refused duplicate hits of this account in the last hour, since its last probe lock.

    Read from the audit record: the records of the last hour are the newest ids,
    so the search starts after the last record well older than the window (a walk
    back along the primary key from the newest id; the slack covers records that
    concurrent transactions stamped a little out of order) instead of reading the
    whole table, which has no index on actor or trigger.
    """
    since = now - PROBE_WINDOW
    floor = db.session.scalar(
        select(AuditRecord.id)
        .where(AuditRecord.at < since - PROBE_SLACK)
        .order_by(AuditRecord.id.desc())
        .limit(1)
    )
    rows = db.session.execute(
        select(AuditRecord.trigger, AuditRecord.data_json)
        .where(
            AuditRecord.id > (floor or 0),
            AuditRecord.actor_id == actor_id,
            AuditRecord.trigger.in_((HIT, PROBE_LOCK)),
            AuditRecord.at >= since,
        )
        .order_by(AuditRecord.id.desc())
    ).all()
    count = 0
    for trigger, data_json in rows:
        if trigger == PROBE_LOCK:  # re-enabled by the admin: counting starts again
            break
        if json.loads(data_json).get("answer") == "refused":
            count += 1
    return count


def _count_probe(actor: Actor, now: datetime) -> None:
    """Disable the account when this refusal is one too many for the hour."""
    # One refusal of this account at a time: parallel requests cannot all slip
    # under the limit (PostgreSQL; SQLite runs one writer at a time anyway).
    user = db.session.scalar(select(User).where(User.id == actor.id).with_for_update())
    if user is None:
        return
    limit = probe_limit()
    count = probe_count(actor.id, now)
    if count <= limit:
        return
    from workflow.services import users

    minutes = int(PROBE_WINDOW.total_seconds() // 60)
    reason = (
        f"疑似身份证号探测:{minutes} 分钟内 {count} 次提交的户主身份证号与无权查看的"
        f"已登记户重复(上限 {limit} 次),系统于 {now.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 自动停用"
    )
    user.disabled_reason = reason[:200]
    audit.record_event(
        PROBE_LOCK,
        actor,
        now,
        {"user": user.username, "refused_in_window": count, "limit": limit, "reason": reason},
        kind="household",
        region_path=actor.region_path,
    )
    logger.warning(
        "account %s disabled: %d refused duplicate ID checks in %d minutes (limit %d)",
        user.username,
        count,
        minutes,
        limit,
    )
    users.set_active(user.username, False)  # revokes its tokens; commits
    raise Forbidden(LOCKED)


def _text_in(column, values: list[str]):
    """`column IN values` as one bound parameter, whatever the number of values."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    rows = (
        text("SELECT value FROM json_each(:wanted)")
        .bindparams(bindparam("wanted", json.dumps(values), type_=String))
        .columns(value=String)
    )
    return column.in_(rows)


def get(actor: Actor, household_id: int) -> Household:
    """A household inside the actor's region, or NotFound."""
    if actor.role not in READERS:
        raise Forbidden("您的角色不能查看贫困户信息")
    household = db.session.get(Household, household_id)
    if household is None or not actor.covers(household.region_path):
        raise NotFound(f"贫困户 {household_id} 不存在或不在您的辖区")
    return household


def listing(
    actor: Actor, village_code: str | None, status: str | None, page: int, per_page: int
) -> tuple[list[Household], int]:
    """A page of households in the actor's region."""
    if actor.role not in READERS:
        raise Forbidden("您的角色不能查看贫困户信息")
    query = select(Household).where(Household.region_path.startswith(actor.region_path))
    if village_code:
        query = query.where(Household.village_code == village_code)
    if status:
        query = query.where(Household.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(
        query.order_by(Household.id)
        .options(selectinload(Household.members))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total or 0


def sees_full_ids(actor: Actor, household: Household) -> bool:
    """Full ID numbers only for users of its own village and township (DOMAIN.md)."""
    return actor.role in ("village", "township") and actor.covers(household.region_path)


def to_dict(household: Household, actor: Actor, detail: bool = False) -> dict:
    """A household as the API shows it: IDs masked unless the caller may see them."""
    full = detail and sees_full_ids(actor, household)
    return {
        "id": household.id,
        "village_code": household.village_code,
        "group": household.group,
        "head_name": household.head_name,
        "head_id_number": personal_data.decrypt(household.head_id_cipher)
        if full
        else household.head_id_masked,
        "members": [
            {
                "name": m.name,
                "relation": m.relation,
                "id_number": personal_data.decrypt(m.id_cipher) if full else m.id_masked,
            }
            for m in household.members
        ],
        "size": household.size,
        "poverty_cause": household.poverty_cause if detail else None,
        "status": household.status,
        "registered": household.registered,
    }
