"""Appending to the hash-chained audit record, and verifying the chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from workflow.clock import as_utc
from workflow.database import lock_audit_chain
from workflow.extensions import db
from workflow.models import AuditRecord, Case

GENESIS = "0" * 64


@dataclass
class Entry:
    """An audit record to append."""

    case_id: int | None
    case_version: int | None
    kind: str
    trigger: str
    from_state: str | None
    to_state: str | None
    actor_id: int | None
    actor_username: str
    actor_role: str
    at: datetime
    data: dict


def canonical(value) -> str:
    """The one JSON spelling that is hashed and stored."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _stamp(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_hash(
    seq,
    case_id,
    case_version,
    kind,
    trigger,
    from_state,
    to_state,
    actor_id,
    actor_username,
    actor_role,
    stamp,
    data_json,
    prev_hash,
) -> str:
    """The sha256 of one record's fields (time as _stamp text), including the previous hash."""
    head = _head(trigger, actor_id, actor_username, actor_role, stamp, data_json)
    return _finish(head.copy(), seq, case_id, case_version, kind, from_state, to_state, prev_hash)


# Fields are joined by the unit separator: codes and usernames cannot hold it and
# JSON escapes control characters, so the joined text is unambiguous. What a batch
# shares (who, when, what data) comes first, so its hash state is computed once.
def _head(trigger, actor_id, actor_username, actor_role, stamp, data_json):
    return hashlib.sha256(
        f"{trigger}\x1f{_s(actor_id)}\x1f{actor_username}\x1f{actor_role}"
        f"\x1f{stamp}\x1f{data_json}\x1f".encode()
    )


def _finish(h, seq, case_id, case_version, kind, from_state, to_state, prev_hash) -> str:
    h.update(
        f"{seq}\x1f{_s(case_id)}\x1f{_s(case_version)}\x1f{kind}\x1f{_s(from_state)}"
        f"\x1f{_s(to_state)}\x1f{prev_hash}".encode()
    )
    return h.hexdigest()


def _s(value) -> object:
    return "" if value is None else value


_COLUMNS = (
    "seq",
    "case_id",
    "case_version",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "actor_id",
    "actor_username",
    "actor_role",
    "at",
    "data_json",
    "prev_hash",
    "hash",
)


def append(entries: list[Entry]) -> None:
    """Append records in order, in the caller's transaction, under the chain lock."""
    run: list[Entry] = []
    for e in entries:  # consecutive entries by the same actor at the same time share a head
        if run and (e.trigger, e.actor_id, e.at) != (run[0].trigger, run[0].actor_id, run[0].at):
            _append_run(run)
            run = []
        run.append(e)
    if run:
        _append_run(run)


def _append_run(run: list[Entry]) -> None:
    first = run[0]
    _append(
        first.trigger,
        first.actor_id,
        first.actor_username,
        first.actor_role,
        first.at,
        [(e.case_id, e.case_version, e.kind, e.from_state, e.to_state, e.data) for e in run],
    )


def record_event(
    trigger: str,
    actor,
    at: datetime,
    data: dict | None = None,
    kind: str = "admin",
    region_path: str | None = None,
) -> None:
    """Append one record of an act that is not a transition (a login, a new user, an import).

    `actor` is an Actor or a User (or None for an anonymous caller); `region_path`
    is where the act happened (the target's region), which decides its chain.
    `data` must hold no personal data beyond what the auditor may read (masked IDs).
    """
    actor_id = getattr(actor, "id", None)
    username = getattr(actor, "username", None) or "anonymous"
    role = getattr(actor, "role", None) or "public"
    _append(trigger, actor_id, username, role, at, [(None, None, kind, None, None, data or {})])


def append_transitions(trigger: str, actor, at: datetime, changes: list[tuple]) -> None:
    """Append one record per (case_id, case_version, kind, from, to, data) of a batch."""
    _append(trigger, actor.id, actor.username, actor.role, at, changes)


def _append(trigger, actor_id, username, role, at, changes) -> None:
    if not changes:
        return
    lock_audit_chain()
    last = db.session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    conn = db.session.connection()
    utc = as_utc(at)
    stamp = _stamp(utc)
    # What SQLAlchemy's SQLite DateTime would store (naive UTC text).
    stored = utc.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else utc
    rows = []
    append = rows.append
    spelled: dict[int, tuple] = {}  # the cases of a batch share their data: spell it once
    for case_id, case_version, kind, from_state, to_state, data in changes:
        seq += 1
        known = spelled.get(id(data))
        if known is None:
            text = canonical(data)
            known = spelled[id(data)] = (
                text,
                _head(trigger, actor_id, username, role, stamp, text),
            )
        data_json, head = known
        h = head.copy()  # _finish, inlined: this loop runs once per case of a batch
        h.update(
            f"{seq}\x1f{'' if case_id is None else case_id}\x1f"
            f"{'' if case_version is None else case_version}\x1f{kind}\x1f"
            f"{'' if from_state is None else from_state}\x1f"
            f"{'' if to_state is None else to_state}\x1f{prev}".encode()
        )
        digest = h.hexdigest()
        append(
            (
                seq,
                case_id,
                case_version,
                kind,
                trigger,
                from_state,
                to_state,
                actor_id,
                username,
                role,
                stored,
                data_json,
                prev,
                digest,
            )
        )
        prev = digest
    # The hot path of every batch: one DBAPI executemany, no per-row ORM or
    # type processing (the values above are already in the driver's terms).
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO audit_records ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_COLUMNS))})"
    )
    conn.exec_driver_sql(sql, rows)


@dataclass
class VerifyResult:
    """The outcome of checking the chain."""

    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None


def verify(batch: int = 5000) -> VerifyResult:
    """Walk the chain in order: continuity, links, hashes, and each case's versions."""
    prev, expected, checked = GENESIS, 1, 0
    versions: dict[int, set[int]] = {}
    last_seq = 0
    while True:
        rows = (
            db.session.execute(
                select(AuditRecord)
                .where(AuditRecord.seq > last_seq)
                .order_by(AuditRecord.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for r in rows:
            if r.seq != expected:
                return VerifyResult(False, checked, f"record seq {expected} is missing", expected)
            if r.prev_hash != prev:
                return VerifyResult(
                    False, checked, f"record {r.seq} does not link to {r.seq - 1}", r.seq
                )
            digest = record_hash(
                r.seq,
                r.case_id,
                r.case_version,
                r.kind,
                r.trigger,
                r.from_state,
                r.to_state,
                r.actor_id,
                r.actor_username,
                r.actor_role,
                _stamp(r.at),
                r.data_json,
                r.prev_hash,
            )
            if digest != r.hash:
                return VerifyResult(False, checked, f"record {r.seq} was altered", r.seq)
            if r.case_id is not None and r.case_version is not None:
                versions.setdefault(r.case_id, set()).add(r.case_version)
            prev, expected, checked = r.hash, expected + 1, checked + 1
            last_seq = r.seq
        db.session.expunge_all()
    # Every version a case went through has its record: deleting the newest
    # records of a case (which the chain alone cannot see) shows here.
    for case_id, version in db.session.execute(select(Case.id, Case.version)):
        seen = versions.get(case_id, set())
        if len(seen) != version or (seen and max(seen) != version):
            missing = sorted(set(range(1, version + 1)) - seen)
            return VerifyResult(
                False, checked, f"case {case_id}: audit records missing for versions {missing[:5]}"
            )
    return VerifyResult(True, checked)


def count() -> int:
    """How many records the chain holds."""
    return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0
