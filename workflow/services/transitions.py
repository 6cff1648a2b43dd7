"""Firing triggers on cases: one case or ten thousand, in a handful of queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update

from states.guards import Firing
from states.procedure import VIA_TRANSITION
from states.registry import procedure
from states.rules import load_rule_set
from workflow import machines
from workflow.clock import local_today
from workflow.errors import (
    ExitflowError,
    Forbidden,
    NotFound,
    TransitionNotAllowed,
    VersionConflict,
)
from workflow.extensions import db
from workflow.models import Case
from workflow.services import audit, effects, facts
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)

_COLUMNS = (
    Case.id,
    Case.kind,
    Case.state,
    Case.version,
    Case.year,
    Case.rule_set,
    Case.data,
    Case.region_path,
    Case.household_id,
    Case.window_id,
    Case.village_code,
)


@dataclass
class Outcome:
    """Each case's outcome of a batch."""

    succeeded: list[int] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    states: dict[int, str] = field(default_factory=dict)
    errors: dict[int, ExitflowError] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The API's `{succeeded, failed}`."""
        return {"succeeded": self.succeeded, "failed": self.failed}


def load_rows(case_ids: list[int]) -> dict[int, object]:
    """Case rows by id, locked for update on PostgreSQL (SQLite holds the write lock)."""
    found = {}
    for chunk in facts.chunks(sorted(set(case_ids))):
        stmt = select(*_COLUMNS).where(Case.id.in_(chunk)).order_by(Case.id).with_for_update()
        for row in db.session.execute(stmt):
            found[row.id] = row
    return found


def _fail(outcome: Outcome, case_id: int, err: ExitflowError) -> None:
    outcome.failed.append({"id": case_id, "status": err.status, "detail": err.detail})
    outcome.errors[case_id] = err


def fire_many(
    trigger: str,
    case_ids: list[int],
    actor: Actor,
    payload: dict,
    now: datetime,
    *,
    via: str = VIA_TRANSITION,
    expected_versions: dict[int, int] | None = None,
    all_or_nothing: bool = False,
    extra_facts: dict | None = None,
    audit_data: dict | None = None,
    rows: dict | None = None,
    payloads: dict[int, dict] | None = None,
) -> Outcome:
    """Fire `trigger` on every case, write side rows and audit records; caller commits."""
    outcome = Outcome()
    rows = rows if rows is not None else load_rows(case_ids)
    today = local_today(now)
    candidates = []
    for case_id in dict.fromkeys(case_ids):
        row = rows.get(case_id)
        try:
            _check_access(row, case_id, trigger, actor, via, expected_versions)
        except ExitflowError as err:
            _fail(outcome, case_id, err)
            continue
        candidates.append(row)
    known = facts.load(trigger, candidates, payload, now, extra_facts)
    # Facts for objections depend on the payload; per-case payloads are for bulk steps.
    fired = []
    for row in candidates:
        data = dict(row.data or {})
        rules = load_rule_set(row.rule_set)
        firing = Firing(
            state=row.state,
            actor_id=actor.id,
            actor_role=actor.role,
            actor_name=actor.display_name,
            payload=payloads.get(row.id, payload) if payloads else payload,
            case_data=data,
            rules=rules,
            today=today,
            facts=known[row.id],
        )
        try:
            effects.prepare(trigger, row, firing, actor, now)
            machines.fire(row.kind, trigger, firing)
        except ExitflowError as err:
            _fail(outcome, row.id, err)
            continue
        fired.append((row, firing))
    if all_or_nothing and outcome.failed:
        failed_ids = {f["id"] for f in outcome.failed}
        for row, _ in fired:
            if row.id not in failed_ids:
                outcome.failed.append(
                    {
                        "id": row.id,
                        "status": 409,
                        "detail": "未执行:同批其他案件未通过 (all_or_nothing)",
                    }
                )
        return outcome
    _apply(trigger, fired, actor, now, audit_data or {})
    for row, firing in fired:
        outcome.succeeded.append(row.id)
        outcome.states[row.id] = firing.state
        outcome.versions[row.id] = row.version + 1
    if fired:
        logger.info("%s: %d case(s) by %s (%s)", trigger, len(fired), actor.username, actor.role)
    return outcome


def _check_access(row, case_id, trigger, actor, via, expected_versions) -> None:
    if row is None or not (actor.role in ("system", "public") or actor.covers(row.region_path)):
        raise NotFound(f"案件 {case_id} 不存在或不在您的辖区 (case not found)")
    proc = procedure(row.kind)
    spec = proc.triggers.get(trigger)
    if spec is None:
        raise TransitionNotAllowed(f"「{proc.label}」没有操作 {trigger} (unknown trigger)")
    if actor.role not in spec.roles:
        raise Forbidden(f"角色 {actor.role} 不能进行「{spec.label}」 (role not allowed)")
    if spec.via != via:
        raise TransitionNotAllowed(
            f"「{spec.label}」只能通过{_VIA_LABEL.get(spec.via, spec.via)}进行"
        )
    if (
        expected_versions
        and case_id in expected_versions
        and expected_versions[case_id] != row.version
    ):
        raise VersionConflict(
            f"案件 {case_id} 已被修改(当前版本 {row.version},您看到的是 "
            f"{expected_versions[case_id]}),请刷新后重试",
            current_version=row.version,
        )


_VIA_LABEL = {
    "publicity": "发布公示",
    "sweep": "公示期满自动处理",
    "objection": "公开异议渠道",
    "evaluation": "第三方评估",
}


def _apply(trigger, fired, actor, now, audit_data) -> None:
    if not fired:
        return
    with_data = [(r, f) for r, f in fired if f.case_data != (r.data or {})]
    plain = [(r, f) for r, f in fired if f.case_data == (r.data or {})]
    stmt = update(Case.__table__).where(
        Case.__table__.c.id == bindparam("b_id"), Case.__table__.c.version == bindparam("b_version")
    )
    changed = 0
    if plain:
        params = [
            {
                "b_id": r.id,
                "b_version": r.version,
                "state": f.state,
                "version": r.version + 1,
                "updated_at": now,
            }
            for r, f in plain
        ]
        changed += db.session.execute(
            stmt.values(
                state=bindparam("state"),
                version=bindparam("version"),
                updated_at=bindparam("updated_at"),
            ),
            params,
            execution_options={"synchronize_session": False},
        ).rowcount
    if with_data:
        params = [
            {
                "b_id": r.id,
                "b_version": r.version,
                "state": f.state,
                "version": r.version + 1,
                "updated_at": now,
                "data": f.case_data,
            }
            for r, f in with_data
        ]
        changed += db.session.execute(
            stmt.values(
                state=bindparam("state"),
                version=bindparam("version"),
                updated_at=bindparam("updated_at"),
                data=bindparam("data"),
            ),
            params,
            execution_options={"synchronize_session": False},
        ).rowcount
    if changed != len(fired):
        db.session.rollback()
        raise VersionConflict("案件已被他人同时修改,请刷新后重试 (concurrent update)")
    effects.apply(trigger, fired, actor, now)
    entries = []
    for r, f in fired:
        entries.append(
            audit.Entry(
                case_id=r.id,
                case_version=r.version + 1,
                kind=r.kind,
                trigger=trigger,
                from_state=r.state,
                to_state=f.state,
                actor_id=actor.id,
                actor_username=actor.username,
                actor_role=actor.role,
                at=now,
                data={**effects.audit_payload(trigger, f.payload), **audit_data},
            )
        )
    audit.append(entries)


def fire_one(
    trigger: str,
    case_id: int,
    actor: Actor,
    payload: dict,
    now: datetime,
    *,
    via: str = VIA_TRANSITION,
    expected_version: int | None = None,
    extra_facts: dict | None = None,
    audit_data: dict | None = None,
) -> tuple[str, int]:
    """Fire on one case; (new state, new version) or the error of its failure."""
    expected = {case_id: expected_version} if expected_version is not None else None
    outcome = fire_many(
        trigger,
        [case_id],
        actor,
        payload,
        now,
        via=via,
        expected_versions=expected,
        extra_facts=extra_facts,
        audit_data=audit_data,
    )
    if outcome.failed:
        raise outcome.errors[case_id]
    return outcome.states[case_id], outcome.versions[case_id]
