"""Households: registering them with their members, reading them with IDs masked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from states.identity import id_number_problem, mask_id_number, normalize_id_number
from workflow import personal_data
from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import Household, Member, Region
from workflow.services.actors import Actor

# 三员分立: the system administrator reads and writes no household data.
WRITERS = {"village", "township", "county"}
READERS = {"village", "township", "county", "city", "province"}


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


def create(actor: Actor, values: dict, now: datetime, commit: bool = True) -> Household:
    """Register a household in a village inside the actor's region."""
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
    if db.session.scalar(select(Household.id).where(Household.head_id_hash == head["hash"])):
        raise Conflict(f"身份证号 {mask_id_number(head_id)} 的户主已登记")
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
        db.session.commit()
    return household


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
