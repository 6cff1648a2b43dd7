"""Regions: creating the tree, finding rows inside a region, live incidence."""

from __future__ import annotations

from sqlalchemy import func, select

from states.criteria import comprehensive_incidence, incidence_rate
from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import Household, Region
from workflow.models.regions import LEVELS
from workflow.services.actors import Actor

# Who reads the region tree (deny by default). 三员分立: the system administrator manages
# regions, the audit administrator reads the audit record only; evaluators read the
# tree (their samples' villages). The live incidence rate and the household counts it
# comes from are household data: the procedure roles only.
READERS = frozenset({"village", "township", "county", "city", "province", "evaluator", "admin"})
INCIDENCE_READERS = frozenset({"village", "township", "county", "city", "province"})


def check_reader(actor: Actor) -> None:
    """Forbidden unless the actor's role reads regions (before anything is looked up)."""
    if actor.role not in READERS:
        raise Forbidden(f"角色 {actor.role} 不查看地区信息 (三员分立)")


def sees_incidence(actor: Actor) -> bool:
    """Whether the actor reads a region's incidence rate and the counts behind it."""
    return actor.role in INCIDENCE_READERS


def get(code: str) -> Region:
    """A region by code, or NotFound."""
    region = db.session.get(Region, code)
    if region is None:
        raise NotFound(f"地区 {code} 不存在 (unknown region)")
    return region


def create(actor: Actor, values: dict) -> Region:
    """Add a region under its parent (admin only; checked at the edge and here)."""
    if actor.role != "admin":
        raise Forbidden("只有系统管理员可以维护地区")
    region = _build(values)
    db.session.add(region)
    db.session.commit()
    return region


def _build(values: dict) -> Region:
    code, level, parent_code = values["code"], values["level"], values.get("parent_code")
    if db.session.get(Region, code) is not None:
        raise Conflict(f"地区 {code} 已存在")
    if parent_code:
        parent = db.session.get(Region, parent_code)
        if parent is None:
            raise ValidationFailed("上级地区不存在", {"parent_code": ["unknown region"]})
        if LEVELS.index(level) != LEVELS.index(parent.level) + 1:
            raise ValidationFailed(
                f"{level} 不能直接隶属于 {parent.level}",
                {"level": ["does not fit under the parent's level"]},
            )
        path = f"{parent.path}{code}/"
    else:
        if level != "province":
            raise ValidationFailed("只有省级地区可以没有上级", {"parent_code": ["required"]})
        path = f"/{code}/"
    return Region(
        code=code,
        name=values["name"],
        level=level,
        parent_code=parent_code,
        path=path,
        rural_population=values.get("rural_population"),
        is_poor=bool(values.get("is_poor")),
        remote=bool(values.get("remote")),
        rule_set=values.get("rule_set"),
    )


def add_many(rows: list[dict]) -> None:
    """Add regions in order without committing (demo and import)."""
    for values in rows:
        db.session.add(_build(values))
        db.session.flush()


def rule_set_for(region: Region) -> str:
    """The rule set named by the region or its nearest ancestor; `national` by default."""
    codes = [c for c in region.path.strip("/").split("/") if c]
    named = dict(
        db.session.execute(select(Region.code, Region.rule_set).where(Region.code.in_(codes))).all()
    )
    for code in reversed(codes):
        if named.get(code):
            return named[code]
    return "national"


def rural_population(region: Region) -> int:
    """The region's own figure, else the sum of its villages'."""
    if region.rural_population is not None:
        return region.rural_population
    return (
        db.session.scalar(
            select(func.coalesce(func.sum(Region.rural_population), 0)).where(
                Region.path.startswith(region.path), Region.level == "village"
            )
        )
        or 0
    )


def incidence(region: Region, recent: bool = False) -> dict:
    """贫困发生率 now, with the counts it comes from (DOMAIN.md).

    With `recent` (the API's reads), from the dashboards' statistics when their last
    refresh is fresh (at most two EXITFLOW_STATS_SECONDS old): a province's register is a
    million households. Guards and notices count live.
    """
    from workflow.services import statistics

    counted = statistics.recent_register(region) if recent else None
    if counted is not None:
        poor_people, poor_households, population = counted
    else:
        poor_people, poor_households = db.session.execute(
            select(func.coalesce(func.sum(Household.size), 0), func.count()).where(
                Household.region_path.startswith(region.path),
                Household.registered.is_(True),
                Household.status.in_(("poor", "returned")),
            )
        ).one()
        population = rural_population(region)
    out = {
        "incidence_rate": incidence_rate(int(poor_people), population),
        "poor_people_not_exited": int(poor_people),
        "poor_households_not_exited": int(poor_households),
        "rural_population": population,
    }
    out.update(_comprehensive(region, int(poor_people), population))
    return out


def _comprehensive(region: Region, poor_people: int, population: int) -> dict:
    """综合贫困发生率 from the region's latest closed evaluation (missed + wrongly exited)."""
    from workflow.models import Evaluation

    latest = db.session.scalar(
        select(Evaluation)
        .where(Evaluation.scope_code == region.code, Evaluation.closed_at.is_not(None))
        .order_by(Evaluation.closed_at.desc())
        .limit(1)
    )
    if latest is None or not latest.metrics:
        return {"comprehensive_incidence_rate": None, "evaluation_id": None}
    missed = latest.metrics["missed_rate"]["numerator"]
    wrong = latest.metrics["wrong_exit_rate"]["numerator"]
    return {
        "comprehensive_incidence_rate": comprehensive_incidence(
            poor_people, missed, wrong, population
        ),
        "evaluation_id": latest.id,
        "missed_people": missed,
        "wrongly_exited_people": wrong,
    }


def to_dict(region: Region, with_incidence: bool = False) -> dict:
    """A region as the API shows it."""
    out = {
        "code": region.code,
        "name": region.name,
        "level": region.level,
        "parent_code": region.parent_code,
        "rural_population": region.rural_population,
        "is_poor": region.is_poor,
        "remote": region.remote,
        "rule_set": region.rule_set,
    }
    if with_incidence:
        out.update(incidence(region, recent=True))
        out["rule_set_in_force"] = rule_set_for(region)
    return out
