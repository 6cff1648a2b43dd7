"""Firing triggers on cases: one case or ten thousand, in a handful of queries."""

from __future__ import annotations

import logging
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update

from states.guards import Firing
from states.procedure import VIA_TRANSITION
from states.registry import procedure
from states.rules import load_rule_set
from workflow import machines
from workflow.clock import local_today
from workflow.database import id_in
from workflow.errors import (
    ExitflowError,
    Forbidden,
    NotFound,
    TransitionNotAllowed,
    VersionConflict,
)
from workflow.extensions import db
from workflow.models import Case, CaseData
from workflow.services import audit, bulk, deadlines, effects, facts
from workflow.services.actors import Actor

logger = logging.getLogger(__name__)

_COLUMNS = (
    Case.id,
    Case.kind,
    Case.state,
    Case.version,
    Case.year,
    Case.rule_set,
    Case.region_path,
    Case.household_id,
    Case.window_id,
    Case.village_code,
    Case.region_code,
)

CaseRow = namedtuple("CaseRow", [c.key for c in _COLUMNS] + ["data"])


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


def load_rows(
    case_ids: list[int],
    with_data: bool = False,
    paths: tuple[tuple[str, ...], ...] | None = None,
) -> dict[int, object]:
    """Case rows by id, locked for update on PostgreSQL (SQLite holds the write lock).

    `with_data` adds each case's data: the whole document, or only the JSON
    `paths` given (a nested dict of the values present; a missing path is absent).
    """
    with bulk.quiet_gc(len(case_ids)):
        return _load_rows(case_ids, with_data, paths)


def _load_rows(case_ids, with_data, paths) -> dict[int, object]:
    stmt = select(*_COLUMNS).where(id_in(Case.id, sorted(set(case_ids)))).order_by(Case.id)
    if with_data:
        if paths is None:
            stmt = stmt.add_columns(CaseData.data)
        else:
            dialect = db.session.get_bind().dialect.name
            stmt = stmt.add_columns(*(bulk.data_path(p, dialect) for p in paths))
        stmt = stmt.outerjoin(CaseData, CaseData.case_id == Case.id)
    stmt = stmt.with_for_update(of=Case)
    # Plain named tuples: a batch reads each row's fields several times, and a
    # namedtuple's attribute is several times cheaper than a SQLAlchemy Row's
    # (built with tuple.__new__: the width is the query's, so no check is needed).
    new = tuple.__new__
    # Core rows, fetched at once: the ORM's result layer and a fetch per row cost
    # more than the rows themselves (the session's autoflush kept all the same).
    if db.session.autoflush:
        db.session.flush()
    result = db.session.connection().execute(stmt).all()
    if not with_data:
        return {row[0]: new(CaseRow, (*row, None)) for row in result}
    if paths is None:
        return {row[0]: new(CaseRow, row) for row in result}
    width = len(_COLUMNS)
    nest = bulk.nester(paths)
    return {row[0]: new(CaseRow, (*row[:width], nest(row[width:]))) for row in result}


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
    with bulk.quiet_gc(len(case_ids)):
        return _fire_many(
            trigger,
            case_ids,
            actor,
            payload,
            now,
            via=via,
            expected_versions=expected_versions,
            all_or_nothing=all_or_nothing,
            extra_facts=extra_facts,
            audit_data=audit_data,
            rows=rows,
            payloads=payloads,
        )


def _fire_many(
    trigger,
    case_ids,
    actor,
    payload,
    now,
    *,
    via,
    expected_versions,
    all_or_nothing,
    extra_facts,
    audit_data,
    rows,
    payloads,
) -> Outcome:
    outcome = Outcome()
    needs_data = effects.uses_case_data(trigger)
    paths = effects.data_paths(trigger) if needs_data else None
    if rows is None:
        rows = load_rows(case_ids, with_data=needs_data, paths=paths)
    elif needs_data and any(r.data is None for r in rows.values()):
        # Rows a caller loaded without their data: read them again with it.
        rows = {**rows, **load_rows(case_ids, with_data=True, paths=paths)}
    today = local_today(now)
    candidates = []
    allowed_kinds: set[str] = set()
    for case_id in dict.fromkeys(case_ids):
        row = rows.get(case_id)
        # The common case (inside the region, a kind already checked, no
        # expected version) is decided without the full check.
        if (
            row is not None
            and row.kind in allowed_kinds
            and not expected_versions
            and row.region_path.startswith(actor.region_path)
        ):
            candidates.append(row)
            continue
        try:
            _check_access(row, case_id, trigger, actor, via, expected_versions)
        except ExitflowError as err:
            _fail(outcome, case_id, err)
            continue
        allowed_kinds.add(row.kind)
        candidates.append(row)
    known = facts.load(trigger, candidates, payload, actor, now, extra_facts)
    rule_sets: dict[str, object] = {}
    firings, prepared = [], []
    prepares = effects.prepares(trigger)
    for row in candidates:
        rules = rule_sets.get(row.rule_set)
        if rules is None:
            rules = rule_sets[row.rule_set] = load_rule_set(row.rule_set)
        firing = Firing(
            row.state,
            actor.id,
            actor.role,
            actor.display_name,
            payloads.get(row.id, payload) if payloads else payload,
            dict(row.data or {}) if needs_data else _NO_DATA,
            rules,
            today,
            known[row.id],
        )
        if prepares:
            try:
                effects.prepare(trigger, row, firing, actor, now)
            except ExitflowError as err:
                _fail(outcome, row.id, err)
                continue
        firings.append(firing)
        prepared.append(row)
    fired = []
    kinds = {row.kind for row in prepared}
    for kind in kinds:
        if len(kinds) == 1:
            group, group_firings = list(zip(prepared, firings, strict=True)), firings
        else:
            group = [(r, f) for r, f in zip(prepared, firings, strict=True) if r.kind == kind]
            group_firings = [f for _, f in group]
        verdicts = machines.fire_batch(kind, trigger, group_firings)
        for (row, firing), err in zip(group, verdicts, strict=True):
            if err is None:
                fired.append((row, firing))
            else:
                _fail(outcome, row.id, err)
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
    _apply(trigger, fired, actor, now, audit_data or {}, needs_data)
    outcome.succeeded.extend([row.id for row, _ in fired])
    outcome.states.update([(row.id, firing.state) for row, firing in fired])
    outcome.versions.update([(row.id, row.version + 1) for row, _ in fired])
    if fired:
        logger.info("%s: %d case(s) by %s (%s)", trigger, len(fired), actor.username, actor.role)
    return outcome


def _check_access(row, case_id, trigger, actor, via, expected_versions) -> None:
    if row is None or not (
        actor.role in ("system", "public") or row.region_path.startswith(actor.region_path)
    ):
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


def _apply(trigger, fired, actor, now, audit_data, needs_data) -> None:
    if not fired:
        return
    table = Case.__table__
    changed = 0
    with_data = [(r, f) for r, f in fired if needs_data and f.case_data != (r.data or {})]
    if with_data and effects.data_paths(trigger) is not None:
        bulk.set_keys(with_data, effects.data_writes(trigger), trigger)
    elif with_data:
        details = CaseData.__table__
        db.session.execute(
            update(details)
            .where(details.c.case_id == bindparam("b_id"))
            .values(data=bindparam("data")),
            [{"b_id": r.id, "data": f.case_data} for r, f in with_data],
            execution_options=_NO_SYNC,
        )
    # Cases move by (from, to) in a few IN-list statements: the rows were read
    # under the write lock (FOR UPDATE on PostgreSQL), so their state and version
    # are still what we read; the state in the WHERE re-checks it all the same.
    groups: dict[tuple, list[int]] = {}
    for r, f in fired:
        groups.setdefault((r.state, f.state, r.kind, r.rule_set), []).append(r.id)
    for (source, dest, kind, rule_set), ids in groups.items():
        values = {"state": dest, "version": table.c.version + 1, "updated_at": now}
        if dest != source:  # a new step restarts its clock; a sign-off does not
            values.update(
                deadline_at=deadlines.deadline_for(kind, dest, rule_set, now), overdue=False
            )
        stmt = update(table).where(id_in(table.c.id, ids), table.c.state == source).values(**values)
        changed += db.session.execute(stmt, execution_options=_NO_SYNC).rowcount
    if changed != len(fired):
        db.session.rollback()
        raise VersionConflict("案件已被他人同时修改,请刷新后重试 (concurrent update)")
    effects.apply(trigger, fired, actor, now)
    payload_data: dict[int, dict] = {}
    changes = []
    for r, f in fired:
        key = id(f.payload)
        if key not in payload_data:  # one dict per distinct payload: shared JSON below
            payload_data[key] = {**effects.audit_payload(trigger, f.payload), **audit_data}
        changes.append(
            (r.id, r.version + 1, r.kind, r.state, f.state, payload_data[key], r.region_path)
        )
    audit.append_transitions(trigger, actor, now, changes)


_NO_SYNC = {"synchronize_session": False}
_NO_DATA: dict = {}  # read-only stand-in for triggers that never touch case data


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
