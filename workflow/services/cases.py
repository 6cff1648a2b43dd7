"""Opening cases, reading them, and the triggers each caller may fire."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, func, insert, literal, or_, select

from states.procedure import VIA_TRANSITION
from states.registry import PROCEDURES, procedure
from workflow.database import id_in
from workflow.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflow.extensions import db
from workflow.models import AuditRecord, Case, CaseData, Household, Objection, Region, SignOff
from workflow.services import audit
from workflow.services.actors import Actor
from workflow.services.bulk import ordered_ids, quiet_gc
from workflow.services.deadlines import deadline_for
from workflow.services.regions import rule_set_for

logger = logging.getLogger(__name__)


def open_household_cases(
    actor: Actor, household_ids: list[int], year: int, now: datetime
) -> list[int]:
    """Open household exit cases in `planned`, one per household and year; caller commits."""
    with quiet_gc(len(household_ids)):
        return _open_household_cases(actor, household_ids, year, now)


def _open_household_cases(actor, household_ids, year, now) -> list[int]:
    if actor.role not in procedure("household_exit").openers:
        raise Forbidden("只有乡镇或县级用户可以确定拟退出户")
    households = {
        h.id: h
        for h in db.session.execute(
            select(
                Household.id, Household.region_path, Household.village_code, Household.registered
            ).where(id_in(Household.id, household_ids))
        )
    }
    errors = {}
    for hid in household_ids:
        h = households.get(hid)
        if h is None or not actor.covers(h.region_path):
            raise NotFound(f"贫困户 {hid} 不存在或不在您的辖区")
        if not h.registered:
            errors[str(hid)] = ["不是建档立卡贫困户"]
    if errors:
        raise ValidationFailed("不能为非建档立卡户建立退出案件", errors)
    existing = set(
        db.session.scalars(
            select(Case.household_id).where(
                Case.kind == "household_exit",
                Case.year == year,
                id_in(Case.household_id, household_ids),
            )
        )
    )
    if existing:
        raise Conflict(f"贫困户 {sorted(existing)[:10]} 在 {year} 年已有退出案件")
    # One rule set per village and one deadline per rule set: ten thousand cases
    # opened at once share a handful of each.
    rule_sets: dict[str, str] = {}
    for village in dict.fromkeys(households[hid].village_code for hid in household_ids):
        rule_sets[village] = rule_set_for(db.session.get(Region, village))
    due = {
        rule_set: deadline_for("household_exit", "planned", rule_set, now)
        for rule_set in set(rule_sets.values())
    }
    table = Case.__table__
    shared = {
        "kind": "household_exit",
        "year": year,
        "state": "planned",
        "version": 1,
        "overdue": False,
        "created_at": now,
        "updated_at": now,
    }
    # Ids are matched back by household (unique per kind and year), so RETURNING
    # needs no row order; rows are numbered in the order of `household_ids`.
    if len(due) == 1:
        # One INSERT … SELECT from the households, the shared values bound once.
        [(rule_set, deadline)] = due.items()
        h = Household.__table__
        source, household_id, position = ordered_ids(household_ids)
        values = {**shared, "rule_set": rule_set, "deadline_at": deadline}
        stmt = insert(table).from_select(
            ["household_id", "village_code", "region_path", *values],
            select(
                h.c.id,
                h.c.village_code,
                h.c.region_path,
                *(literal(v, type_=table.c[k].type) for k, v in values.items()),
            )
            .select_from(source)
            .join(h, h.c.id == household_id)
            .order_by(position),
        )
        result = db.session.execute(stmt.returning(table.c.household_id, table.c.id))
    else:
        rows = [
            {
                **shared,
                "household_id": hid,
                "village_code": households[hid].village_code,
                "region_path": households[hid].region_path,
                "rule_set": rule_sets[households[hid].village_code],
                "deadline_at": due[rule_sets[households[hid].village_code]],
            }
            for hid in household_ids
        ]
        result = db.session.execute(insert(table).returning(table.c.household_id, table.c.id), rows)
    created = {hid: cid for hid, cid in result}
    ids = [created[hid] for hid in household_ids]
    details = CaseData.__table__
    db.session.execute(
        insert(details).from_select(
            ["case_id", "data"],
            select(table.c.id, literal({}, details.c.data.type)).where(id_in(table.c.id, ids)),
        )
    )
    # One run of records by one actor at one time: the shape append_transitions takes.
    audit.append_transitions(
        "create",
        actor,
        now,
        [
            (
                cid,
                1,
                "household_exit",
                None,
                "planned",
                {"year": year, "household_id": hid},
                households[hid].region_path,
            )
            for cid, hid in zip(ids, household_ids, strict=True)
        ],
    )
    logger.info("opened %d household exit case(s) for %d by %s", len(ids), year, actor.username)
    return ids


def open_case(actor: Actor, kind: str, subject, year: int, now: datetime) -> Case:
    """Open one case of any kind; commits."""
    if kind not in PROCEDURES:
        raise ValidationFailed("未知的案件类型", {"kind": [f"one of {', '.join(PROCEDURES)}"]})
    if kind == "household_exit":
        if not isinstance(subject, int):
            raise ValidationFailed(
                "贫困户退出案件的对象是贫困户编号", {"subject": ["household id"]}
            )
        [case_id] = open_household_cases(actor, [subject], year, now)
    else:
        case_id = open_region_case(actor, kind, str(subject), year, now)
    db.session.commit()
    return db.session.get(Case, case_id)


def open_region_case(actor: Actor, kind: str, code: str, year: int, now: datetime) -> int:
    """Open a village or county exit case in `draft`; caller commits."""
    proc = procedure(kind)
    if actor.role not in proc.openers:
        raise Forbidden(f"角色 {actor.role} 不能建立「{proc.label}」案件")
    region = db.session.get(Region, code)
    if region is None or not actor.covers(region.path):
        raise NotFound(f"地区 {code} 不存在或不在您的辖区")
    if region.level != proc.subject_level:
        raise ValidationFailed(
            f"「{proc.label}」的对象应为{proc.subject_level}级地区",
            {"subject": [f"a {proc.subject_level} code"]},
        )
    if not region.is_poor:
        raise ValidationFailed(
            f"{region.name} 不是贫困{'村' if kind == 'village_exit' else '县'}",
            {"subject": ["not a designated poor region"]},
        )
    if db.session.scalar(
        select(Case.id).where(Case.kind == kind, Case.region_code == code, Case.year == year)
    ):
        raise Conflict(f"{region.name} 在 {year} 年已有退出案件")
    rule_set = rule_set_for(region)
    case = Case(
        kind=kind,
        region_code=code,
        village_code=code if kind == "village_exit" else None,
        region_path=region.path,
        year=year,
        state=str(proc.initial),
        version=1,
        rule_set=rule_set,
        created_at=now,
        updated_at=now,
        deadline_at=deadline_for(kind, str(proc.initial), rule_set, now),
    )
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseData(case_id=case.id, data={}))
    audit.append(
        [
            audit.Entry(
                case_id=case.id,
                case_version=1,
                kind=kind,
                trigger="create",
                from_state=None,
                to_state=str(proc.initial),
                actor_id=actor.id,
                actor_username=actor.username,
                actor_role=actor.role,
                at=now,
                data={"year": year, "region_code": code},
                region_path=region.path,
            )
        ]
    )
    logger.info("opened %s case %d for %s %d by %s", kind, case.id, code, year, actor.username)
    return case.id


# 三员分立: the system and audit administrators read no case; an evaluator reads the
# cases of the samples assigned to it and nothing else.
NO_CASES = frozenset({"admin", "auditor"})


def _sampled(actor: Actor):
    """The condition `Case.id` is in a sample assigned to this evaluator.

    As `evaluation.samples`: a household assigned to it by name, or one assigned to
    nobody in a batch that names no evaluators and lies inside its region.
    """
    from workflow.models import Evaluation, EvaluationSample

    unnamed = [
        ev.id
        for ev in db.session.scalars(
            select(Evaluation).where(Evaluation.scope_path.startswith(actor.region_path))
        )
        if not ev.evaluators
    ]
    sampled = select(EvaluationSample.case_id).where(
        EvaluationSample.case_id.is_not(None),
        or_(
            EvaluationSample.evaluator == actor.username,
            and_(
                EvaluationSample.evaluator.is_(None),
                EvaluationSample.evaluation_id.in_(unnamed),
            ),
        ),
    )
    return Case.id.in_(sampled)


def get(actor: Actor, case_id: int) -> Case:
    """A case inside the actor's region (an evaluator: in its sample), or NotFound.

    The answer is the same whether the case does not exist or the caller may not see
    it: nobody learns that a case exists from it.
    """
    if actor.role in NO_CASES:
        raise Forbidden("系统管理员和审计管理员不查看或办理案件 (三员分立)")
    case = db.session.get(Case, case_id)
    if actor.role == "evaluator":
        visible = case is not None and db.session.scalar(
            select(Case.id).where(Case.id == case_id, _sampled(actor))
        )
    else:
        visible = case is not None and actor.covers(case.region_path)
    if not visible:
        raise NotFound(f"案件 {case_id} 不存在或不在您的辖区 (case not found)")
    return case


def listing(actor: Actor, filters: dict, page: int, per_page: int) -> tuple[list[Case], int]:
    """A page of cases in the actor's region (an evaluator: its samples'), filtered."""
    if actor.role in NO_CASES:
        raise Forbidden("系统管理员和审计管理员不查看或办理案件 (三员分立)")
    query = select(Case)
    if actor.role == "evaluator":
        query = query.where(_sampled(actor))
    else:
        query = query.where(Case.region_path.startswith(actor.region_path))
    if filters.get("region_code"):
        region = db.session.get(Region, filters["region_code"])
        if region is None:
            return [], 0
        query = query.where(Case.region_path.startswith(region.path))
    if filters.get("overdue") is not None:
        query = query.where(Case.overdue.is_(filters["overdue"]))
    for key in ("kind", "state", "year"):
        if filters.get(key) is not None:
            query = query.where(getattr(Case, key) == filters[key])
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.order_by(Case.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def allowed_triggers(case: Case, actor: Actor) -> list[str]:
    """Triggers this caller may fire on the case now (guards are checked when fired)."""
    proc = procedure(case.kind)
    if not actor.covers(case.region_path):
        return []
    return [
        code
        for code, spec in proc.triggers.items()
        if spec.via == VIA_TRANSITION
        and actor.role in spec.roles
        and case.state in proc.sources(code)
    ]


def history(case_id: int) -> list[dict]:
    """Every audit record of the case, oldest first."""
    import json

    rows = db.session.scalars(
        select(AuditRecord).where(AuditRecord.case_id == case_id).order_by(AuditRecord.id)
    )
    return [
        {
            "seq": r.seq,
            "trigger": r.trigger,
            "from_state": r.from_state,
            "to_state": r.to_state,
            "actor": r.actor_username,
            "role": r.actor_role,
            "at": r.at.isoformat() if r.at.tzinfo else r.at.isoformat() + "+00:00",
            "version": r.case_version,
            "data": json.loads(r.data_json),
        }
        for r in rows
    ]


def to_dict(case: Case, actor: Actor, detail: bool = False) -> dict:
    """A case as the API shows it."""
    proc = procedure(case.kind)
    out = {
        "id": case.id,
        "kind": case.kind,
        "subject": case.household_id if case.household_id is not None else case.region_code,
        "year": case.year,
        "state": case.state,
        "state_label": proc.labels.get(case.state, case.state),
        "version": case.version,
        "rule_set": case.rule_set,
        "village_code": case.village_code,
        "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
        "overdue": case.overdue,
    }
    if detail:
        out["data"] = case.data or {}
        out["allowed_triggers"] = allowed_triggers(case, actor)
        out["history"] = history(case.id)
        out["signoffs"] = [
            {
                "step": s.step,
                "round": s.round,
                "user_id": s.user_id,
                "signer": s.signer_name,
                "result": s.result,
                "visited_on": s.visited_on.isoformat() if s.visited_on else None,
                "notes": s.notes,
            }
            for s in db.session.scalars(
                select(SignOff).where(SignOff.case_id == case.id).order_by(SignOff.id)
            )
        ]
        out["objections"] = [
            {
                "id": o.id,
                "window_id": o.window_id,
                "content": o.content,
                "status": o.status,
                "finding": o.finding,
            }
            for o in db.session.scalars(
                select(Objection).where(Objection.case_id == case.id).order_by(Objection.id)
            )
        ]
    return out
