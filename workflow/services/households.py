"""Households: registering them with their members, reading them with IDs masked.

Registering checks that the head's ID number is not registered yet, and that check
must not become a way to learn ID numbers (issue #10): whoever may register could
otherwise send every candidate of a masked number (430623********1234 leaves about
4,000) and be told which one is taken. So a duplicate is named plainly (which row,
which household) only to a caller who may read that household's full ID number
anyway (`sees_plainly`: its own village and township); any other duplicate refuses
the whole request with one fixed answer that names no row and no number. Every hit
is audited, and an account that draws more of those refusals than
EXITFLOW_ID_PROBE_LIMIT (3) in an hour is disabled as a suspected probe.

A request that is not refused answers too: "none of these numbers is registered".
Two signals bound what that answer can be used for:

* a probe pattern (`screen_pattern`): one request holding more different ID numbers
  sharing one masked form (first 6 and last 4 digits) than chance explains for its
  size (3 for a POST or a small file, a little more for a large file: see
  `pattern_threshold`) is refused as a whole with one fixed answer, before the
  register is consulted, and counts toward the same hourly probe lock;
* near misses (`screen_near_misses`): a head sent for registration whose masked
  form is the masked form of a registered head or member the caller may not read
  in full. An account that sends more than EXITFLOW_ID_NEAR_MISS_LIMIT (5) of them
  on one masked form in 24 hours is disabled like a probe, before the register is
  asked whether the number is taken, so the locking request answers nothing.
  Counted per masked form: where the register is dense every masked form of an
  area code is taken by someone, so nearly every honest registration is a near
  miss somewhere; an account trying one masked form again and again is the probe.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app, has_app_context
from sqlalchemy import String, any_, bindparam, func, select, union
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
# The one answer to a probe pattern (see screen_pattern): no row, no number, no count.
PATTERN_REGISTER = "本户的身份证号中有多个前6位和后4位相同,疑似批量探测,已拒绝登记"
PATTERN_IMPORT = (
    "文件中有多个身份证号前6位和后4位相同,疑似批量探测,已拒绝导入,未导入任何数据;"
    "如确属实际情况,请联系县扶贫办或系统管理员"
)

HIT = "duplicate_id_hit"  # audit trigger of every duplicate found in the register
PATTERN = "id_probe_pattern"  # audit trigger of a request refused as a probe pattern
NEAR_MISS = "id_near_miss"  # audit trigger of new heads near a number the caller may not see
PROBE_LOCK = "id_probe_lock"  # audit trigger of an account disabled as a probe
PROBE_LIMIT = 3  # refused requests per PROBE_WINDOW; EXITFLOW_ID_PROBE_LIMIT overrides
PROBE_WINDOW = timedelta(hours=1)
PROBE_SLACK = timedelta(minutes=10)  # see _recent
MAX_AUDITED_IDS = 1000  # household ids named in one hit record (the count is always whole)
# Near misses on one masked form per NEAR_MISS_WINDOW; EXITFLOW_ID_NEAR_MISS_LIMIT overrides.
NEAR_MISS_LIMIT = 5
NEAR_MISS_WINDOW = timedelta(hours=24)
MAX_AUDITED_MASKS = 200  # masked forms named in one pattern record
NEAR_MISS_TAG = 12  # hex characters of a keyed hash that tell numbers apart in a record
# Chance, the yardstick of both signals: the last 4 digits of the ID numbers of one
# area code (3 of sequence, 1 check) take about ID_TAILS values, and a masked form
# is suspicious only when more numbers share it than would happen by chance to one
# masked form in CHANCE of the requests (or days) of that size.
ID_TAILS = 10_000
CHANCE = 1e-4
PATTERN_MIN = 3  # different numbers sharing one masked form: never fewer than this


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
    checked the request with `screen_pattern`, `screen_near_misses` and
    `screen_duplicates` (an import, for all rows at once).
    """
    if actor.role not in WRITERS:
        raise Forbidden("您的角色不能登记贫困户")
    village = db.session.get(Region, values["village_code"])
    if village is None or village.level != "village":
        raise ValidationFailed("村不存在", {"village_code": ["unknown village"]})
    if not actor.covers(village.path):
        raise Forbidden("该村不在您的辖区")
    if not screened:
        # A probe pattern is refused whatever else the request holds, and before the
        # register is consulted: the answer is the same whichever numbers it holds.
        screen_pattern(
            actor, id_numbers([values]), now, "register", ValidationFailed(PATTERN_REGISTER)
        )
    errors = _validate(values)
    if errors:
        raise ValidationFailed("身份证号有误", errors)
    head_id = normalize_id_number(values["head_id_number"])
    head = personal_data.protect(head_id)
    if not screened:
        # The register is consulted last, for a request that is otherwise valid:
        # a request refused for another reason never answers whether a number exists.
        # Near misses first: an account locked by this one learns nothing from it.
        screen_near_misses(actor, {head["hash"]: head["masked"]}, now, "register")
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
    return _configured_count("EXITFLOW_ID_PROBE_LIMIT", PROBE_LIMIT)


def _configured_count(name: str, default: int) -> int:
    """A count from the app's configuration, else the environment, else `default`."""
    value = current_app.config.get(name) if has_app_context() else None
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = -1
    if limit < 0:
        logger.error("%s=%r is not a count; using %d", name, value, default)
        return default
    return limit


def near_miss_limit() -> int:
    """Near misses on one masked form an account may register per 24 hours.

    EXITFLOW_ID_NEAR_MISS_LIMIT, default 5; see `screen_near_misses`.
    """
    return _configured_count("EXITFLOW_ID_NEAR_MISS_LIMIT", NEAR_MISS_LIMIT)


def _recent(actor_id: int, now: datetime, window: timedelta, triggers: tuple) -> list[dict]:
    """This account's audit data under `triggers` within `window`, since its last probe lock.

    Read from the audit record: the records of the window are the newest ids, so the
    search starts after the last record well older than the window (a walk back
    along the primary key from the newest id; the slack covers records that
    concurrent transactions stamped a little out of order) instead of reading the
    whole table, which has no index on actor or trigger. Newest first, each with
    its trigger under "_trigger".
    """
    since = now - window
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
            AuditRecord.trigger.in_((*triggers, PROBE_LOCK)),
            AuditRecord.at >= since,
        )
        .order_by(AuditRecord.id.desc())
    ).all()
    out = []
    for trigger, data_json in rows:
        if trigger == PROBE_LOCK:  # re-enabled by the admin: counting starts again
            break
        out.append({**json.loads(data_json), "_trigger": trigger})
    return out


def probe_count(actor_id: int, now: datetime) -> int:
    """Requests of this account refused in the last hour, since its last probe lock.

    A refused duplicate (a hit the caller may not see) and a probe pattern count alike.
    """
    return sum(
        1
        for data in _recent(actor_id, now, PROBE_WINDOW, (HIT, PATTERN))
        if data["_trigger"] == PATTERN or data.get("answer") == "refused"
    )


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
    minutes = int(PROBE_WINDOW.total_seconds() // 60)
    reason = (
        f"疑似身份证号探测:{minutes} 分钟内 {count} 次提交因身份证号与无权查看的已登记户"
        f"重复或疑似批量探测被拒绝(上限 {limit} 次),"
        f"系统于 {now.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 自动停用"
    )
    logger.warning(
        "account %s disabled: %d refused duplicate ID checks or probe patterns in %d minutes"
        " (limit %d)",
        actor.username,
        count,
        minutes,
        limit,
    )
    _lock(
        actor, user, now, reason, {"cause": "refused", "refused_in_window": count, "limit": limit}
    )


def _lock(actor: Actor, user: User, now: datetime, reason: str, data: dict) -> None:
    """Disable the account as a suspected probe: its sessions and tokens end; 403."""
    from workflow.services import users

    user.disabled_reason = reason[:200]
    audit.record_event(
        PROBE_LOCK,
        actor,
        now,
        {"user": user.username, **data, "reason": reason},
        kind="household",
        region_path=actor.region_path,
    )
    users.set_active(user.username, False)  # revokes its tokens; commits
    raise Forbidden(LOCKED)


def id_numbers(values: Iterable[dict]) -> list[str]:
    """The valid ID numbers (heads and members) of household values, normalized."""
    out = []
    for v in values:
        for raw in [v.get("head_id_number", "")] + [
            m.get("id_number", "") for m in v.get("members") or []
        ]:
            if raw and id_number_problem(raw) is None:
                out.append(normalize_id_number(raw))
    return out


@lru_cache(maxsize=1024)
def chance_bound(numbers: int) -> int:
    """The fewest ID numbers on one masked form that chance hardly explains.

    For `numbers` different ID numbers of one area code spread at random over its
    ID_TAILS masked forms (Poisson), the smallest count t such that the expected
    number of masked forms holding t or more is at most CHANCE: 3 up to about 30
    numbers, 4 from about 40, 6 at 1,000, 9 at 5,000, 12 at 10,000, 23 at 50,000.
    """
    lam = numbers / ID_TAILS
    if lam <= 0:
        return 1
    top = int(lam + 20 * math.sqrt(lam) + 40)
    terms = [math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) for k in range(top + 1)]
    bound, tail = top + 1, 0.0
    for t in range(top, 0, -1):
        tail += terms[t]
        if ID_TAILS * tail > CHANCE:
            break
        bound = t
    return bound


def pattern_threshold(numbers: int) -> int:
    """Different numbers on one masked form that refuse a request holding `numbers` of its area.

    PATTERN_MIN (3) for a POST (at most 31 numbers) and a small file; a larger file
    gets what chance explains for its size (`chance_bound`), so an honest village or
    township file is not refused for the birthday paradox: 1,000 numbers of one area
    code spread over its ~10,000 tails put 3 on some masked form more often than not.
    """
    return max(PATTERN_MIN, chance_bound(numbers))


def screen_pattern(
    actor: Actor,
    numbers: Iterable[str],
    now: datetime,
    channel: str,
    refusal: ExitflowError,
    details: dict | None = None,
) -> None:
    """Refuse a request that holds a probe pattern, before anything is looked up.

    A pattern is a masked form (first 6 and last 4 digits) shared by at least
    `pattern_threshold` different ID numbers of the request (heads and members):
    the candidates of one masked number, sent together to learn which is taken.
    The refusal is `refusal` (the caller's one fixed answer) whatever else the
    request holds; it is audited with the masked forms and their counts, never a
    full number, and counts toward the hourly probe lock like a refused duplicate.
    The operator at the console (no user) holds the data key and is not screened.
    """
    if actor.id is None:
        return
    by_mask: dict[str, set[str]] = {}
    for number in numbers:
        by_mask.setdefault(mask_id_number(number), set()).add(number)
    per_area: Counter[str] = Counter()
    for masked, group in by_mask.items():
        per_area[masked[:6]] += len(group)
    flagged = sorted(
        (
            (len(group), masked)
            for masked, group in by_mask.items()
            if len(group) >= pattern_threshold(per_area[masked[:6]])
        ),
        key=lambda item: (-item[0], item[1]),
    )
    if not flagged:
        return
    count, masked = flagged[0]
    audit.record_event(
        PATTERN,
        actor,
        now,
        {
            "channel": channel,
            "answer": "refused",
            "masked": masked,
            "count": count,
            "threshold": pattern_threshold(per_area[masked[:6]]),
            "masked_forms": dict((m, c) for c, m in flagged[:MAX_AUDITED_MASKS]),
            "patterns": len(flagged),
            "checked": sum(per_area.values()),
            **(details or {}),
        },
        kind="household",
        region_path=actor.region_path,
    )
    logger.info(
        "%s: %d different ID numbers on %s from %s, refused as a probe pattern",
        channel,
        count,
        masked,
        actor.username,
    )
    _count_probe(actor, now)
    db.session.commit()
    raise refusal


def screen_near_misses(
    actor: Actor, heads: dict[str, str], now: datetime, channel: str, details: dict | None = None
) -> int:
    """Record the heads that share a masked form with someone the caller may not see.

    `heads` maps the keyed hash of each head's ID number in the request (a request
    otherwise valid: called just before `screen_duplicates`) to its masked form. A
    near miss is a head whose masked form is the masked form of a registered head
    or member of a household outside the caller's sight (`sees_plainly`): a number
    the caller may be trying among the candidates of a masked number it was shown
    (or that number itself, which `screen_duplicates` then refuses). One query for
    the whole request (indexes on households.head_id_masked and members.id_masked).

    Near misses are audited (trigger NEAR_MISS: how many, on which masked forms,
    and a short tag of each number, NEAR_MISS_TAG characters of its keyed hash, so
    that sending the same number again is not counted twice; never a full number
    or a household) and counted per masked form over 24 hours: an account over
    `near_miss_limit` different numbers on one masked form is disabled like a probe
    (Forbidden; nothing of the request registered, the register not consulted).
    Returns the number of near misses in the request.
    """
    if actor.id is None or not heads:
        return 0
    taken = set(db.session.scalars(_masks_out_of_sight(actor, sorted(set(heads.values())))))
    near: dict[str, list[str]] = {}
    for key, masked in heads.items():
        if masked in taken:
            near.setdefault(masked, []).append(key[:NEAR_MISS_TAG])
    if not near:
        return 0
    total = sum(len(tags) for tags in near.values())
    audit.record_event(
        NEAR_MISS,
        actor,
        now,
        {
            "channel": channel,
            "near_misses": total,
            "masked_forms": {m: sorted(tags) for m, tags in sorted(near.items())},
            **(details or {}),
        },
        kind="household",
        region_path=actor.region_path,
    )
    _count_near_misses(actor, now, sorted(near))
    db.session.commit()
    return total


def _masks_out_of_sight(actor: Actor, masks: list[str]):
    """The masked forms among `masks` held by a head or member the actor may not read."""
    heads = select(Household.head_id_masked.label("masked")).where(
        _text_in(Household.head_id_masked, masks)
    )
    members = (
        select(Member.id_masked.label("masked"))
        .join(Household, Member.household_id == Household.id)
        .where(_text_in(Member.id_masked, masks))
    )
    if actor.role in ("village", "township"):  # the others see no full number (sees_plainly)
        outside = ~Household.region_path.startswith(actor.region_path, autoescape=True)
        heads, members = heads.where(outside), members.where(outside)
    return union(heads, members)


def _count_near_misses(actor: Actor, now: datetime, masks: list[str]) -> None:
    """Disable the account when one of these masked forms has too many near misses.

    Too many: more different numbers than `near_miss_limit` in 24 hours, plus what
    chance explains on a day of many near misses in that area code (`chance_bound`
    of the area's near misses beyond the default: nothing up to about 1,200 in a
    day, 1 from 1,500, 3 at 5,000, 6 at 10,000), so that a county loading its
    register where every masked form is taken is not locked for the birthday paradox.
    """
    user = db.session.scalar(select(User).where(User.id == actor.id).with_for_update())
    if user is None:
        return
    limit = near_miss_limit()
    tags: dict[str, set[str]] = {}
    for data in _recent(actor.id, now, NEAR_MISS_WINDOW, (NEAR_MISS,)):
        for masked, seen in data.get("masked_forms", {}).items():
            tags.setdefault(masked, set()).update(seen)
    volume: Counter[str] = Counter()
    for masked, seen in tags.items():
        volume[masked[:6]] += len(seen)
    over = []
    for masked in masks:
        allowed = limit + max(0, chance_bound(volume[masked[:6]]) - 1 - NEAR_MISS_LIMIT)
        if len(tags.get(masked, ())) > allowed:
            over.append((len(tags[masked]), masked, allowed))
    if not over:
        return
    count, masked, allowed = max(over)
    hours = int(NEAR_MISS_WINDOW.total_seconds() // 3600)
    reason = (
        f"疑似身份证号探测:{hours} 小时内提交了 {count} 个不同的户主身份证号,"
        f"前6位和后4位均与无权查看的已登记身份证号 {masked} 相同(上限 {allowed} 个),"
        f"系统于 {now.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 自动停用"
    )
    logger.warning(
        "account %s disabled: %d near misses on %s in %d hours (limit %d)",
        actor.username,
        count,
        masked,
        hours,
        allowed,
    )
    _lock(
        actor,
        user,
        now,
        reason,
        {"cause": "near_miss", "near_misses": count, "masked": masked, "limit": allowed},
    )


def _text_in(column, values: list[str]):
    """`column IN values` as one bound parameter, whatever the number of values."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    rows = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")
    return column.in_(select(rows.c.value))


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
