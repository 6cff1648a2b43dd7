"""Appending to the hash-chained audit record: one chain per county, checkpointed globally.

A chain is as wide as the writers that must wait on it (ARCHITECTURE.md,
convention 8): every county has its own chain, so a county approving 10,000
households, a sweep in another county and a village clerk elsewhere never wait
on each other. A checkpoint records every chain's head in a global chain of
its own (RFC 6962's signed tree heads, without the signature: its hash is what
gets printed or published), so truncating or rewriting one chain still shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from workflow.clock import as_utc
from workflow.database import lock_audit_chain, lock_checkpoints
from workflow.extensions import db
from workflow.models import AuditChain, AuditCheckpoint, AuditRecord

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
LEGACY = ""  # the one global chain of the records written before chains were split
NO_REGION = "-"  # acts of no region: the admin's, failed logins of unknown names


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
    region_path: str | None = None  # where it happened: decides the chain


def canonical(value) -> str:
    """The one JSON spelling that is hashed and stored."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _stamp(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_CHAIN_OF: dict[str | None, str] = {}


def chain_of(region_path: str | None) -> str:
    """The chain of a region path: its county's code, else its city's or province's, else "-".

    A county is the first GB/T 2260 code on the path that does not end in "00"
    (cities end in "00", provinces in "0000").
    """
    known = _CHAIN_OF.get(region_path)
    if known is not None:
        return known
    codes = [c for c in (region_path or "").split("/") if c]
    chain = NO_REGION
    for code in codes:
        if len(code) == 6:
            chain = code
            if not code.endswith("00"):
                break
    if len(_CHAIN_OF) < 100_000:
        _CHAIN_OF[region_path] = chain
    return chain


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
    chain: str = "",
) -> str:
    """The sha256 of one record's fields (time as _stamp text), including the previous hash."""
    head = _head(trigger, actor_id, actor_username, actor_role, stamp, data_json)
    return _finish(
        head.copy(), seq, case_id, case_version, kind, from_state, to_state, prev_hash, chain
    )


# Fields are joined by the unit separator: codes and usernames cannot hold it and
# JSON escapes control characters, so the joined text is unambiguous. What a batch
# shares (who, when, what data) comes first, so its hash state is computed once.
def _head(trigger, actor_id, actor_username, actor_role, stamp, data_json):
    return hashlib.sha256(
        f"{trigger}\x1f{_s(actor_id)}\x1f{actor_username}\x1f{actor_role}"
        f"\x1f{stamp}\x1f{data_json}\x1f".encode()
    )


def _finish(h, seq, case_id, case_version, kind, from_state, to_state, prev_hash, chain="") -> str:
    # The legacy chain "" hashes as it always did; every other record names its chain.
    h.update(
        f"{chain + chr(31) if chain else ''}{seq}\x1f{_s(case_id)}\x1f{_s(case_version)}\x1f"
        f"{kind}\x1f{_s(from_state)}\x1f{_s(to_state)}\x1f{prev_hash}".encode()
    )
    return h.hexdigest()


def _s(value) -> object:
    return "" if value is None else value


_COLUMNS = (
    "chain",
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
    """Append records in order, in the caller's transaction, under their chains' locks."""
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
        [
            (e.case_id, e.case_version, e.kind, e.from_state, e.to_state, e.data, e.region_path)
            for e in run
        ],
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
    _append(
        trigger,
        actor_id,
        username,
        role,
        at,
        [(None, None, kind, None, None, data or {}, region_path)],
    )


def append_transitions(trigger: str, actor, at: datetime, changes: list[tuple]) -> None:
    """Append one record per (case_id, case_version, kind, from, to, data, region_path)."""
    _append(trigger, actor.id, actor.username, actor.role, at, changes)


def _append(trigger, actor_id, username, role, at, changes) -> None:
    if not changes:
        return
    by_chain: dict[str, list[tuple]] = {}
    for change in changes:
        by_chain.setdefault(chain_of(change[6]), []).append(change)
    conn = db.session.connection()
    utc = as_utc(at)
    stamp = _stamp(utc)
    # What SQLAlchemy's SQLite DateTime would store (naive UTC text).
    stored = utc.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else utc
    spelled: dict[int, tuple] = {}  # the cases of a batch share their data: spell it once
    rows: list[tuple] = []
    # Chains are locked in one order, so two transactions spanning the same
    # chains cannot deadlock on each other.
    for chain in sorted(by_chain):
        lock_audit_chain(chain)
        seq, prev = _head_of(chain, at)
        for case_id, case_version, kind, from_state, to_state, data, _path in by_chain[chain]:
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
                f"{chain}\x1f{seq}\x1f{'' if case_id is None else case_id}\x1f"
                f"{'' if case_version is None else case_version}\x1f{kind}\x1f"
                f"{'' if from_state is None else from_state}\x1f"
                f"{'' if to_state is None else to_state}\x1f{prev}".encode()
            )
            digest = h.hexdigest()
            rows.append(
                (
                    chain,
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
    # The hot path of every batch: no per-row ORM or type processing (the values
    # above are already in the driver's terms): COPY on PostgreSQL for a large batch,
    # else one DBAPI executemany.
    if conn.dialect.name == "postgresql" and len(rows) >= _COPY_FROM:
        raw = conn.connection.dbapi_connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY audit_records ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO audit_records ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_COLUMNS))})"
    )
    conn.exec_driver_sql(sql, rows)


_COPY_FROM = 200  # records: below this COPY's set-up costs more than it saves


def _head_of(chain: str, at: datetime) -> tuple[int, str]:
    """(seq, hash) of the chain's newest record; a new chain starts from the legacy head."""
    last = db.session.execute(
        select(AuditRecord.seq, AuditRecord.hash)
        .where(AuditRecord.chain == chain)
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    ).first()
    if last:
        return last.seq, last.hash
    genesis = db.session.scalar(select(AuditChain.genesis).where(AuditChain.chain == chain))
    if genesis is None:
        genesis = legacy_head()
        db.session.execute(insert(AuditChain).values(chain=chain, genesis=genesis, created_at=at))
    return 0, genesis


def legacy_head() -> str:
    """The hash every new chain starts from: the legacy chain's last record, or zeros."""
    last = db.session.scalar(
        select(AuditRecord.hash)
        .where(AuditRecord.chain == LEGACY)
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    )
    return last or GENESIS


def heads() -> dict[str, list]:
    """{chain: [seq, hash]} of every chain's newest record (one index probe per chain)."""
    out: dict[str, list] = {}
    chains = [LEGACY, *db.session.scalars(select(AuditChain.chain).order_by(AuditChain.chain))]
    for chain in chains:
        last = db.session.execute(
            select(AuditRecord.seq, AuditRecord.hash)
            .where(AuditRecord.chain == chain)
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        ).first()
        if last:
            out[chain] = [last.seq, last.hash]
    return out


def checkpoint_hash(seq: int, stamp: str, heads_json: str, records: int, prev_hash: str) -> str:
    """The sha256 of a checkpoint: its position, time, heads, record count and predecessor."""
    return hashlib.sha256(
        f"checkpoint\x1f{seq}\x1f{stamp}\x1f{heads_json}\x1f{records}\x1f{prev_hash}".encode()
    ).hexdigest()


def checkpoint(now: datetime, commit: bool = True) -> AuditCheckpoint | None:
    """Record every chain's head in the checkpoint chain; None when nothing changed since."""
    lock_checkpoints()
    last = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))
    current = heads()
    text = canonical(current)
    if last is not None and last.heads_json == text:
        if commit:
            db.session.commit()
        return None
    records = sum(seq for seq, _hash in current.values())
    seq = (last.seq if last else 0) + 1
    prev = last.hash if last else GENESIS
    row = AuditCheckpoint(
        seq=seq,
        at=now,
        heads_json=text,
        records=records,
        prev_hash=prev,
        hash=checkpoint_hash(seq, _stamp(now), text, records, prev),
    )
    db.session.add(row)
    if commit:
        db.session.commit()
        logger.info("audit checkpoint %d: %d chains, %d records", seq, len(current), records)
    return row


def count() -> int:
    """How many records the chains hold."""
    return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def verify(full: bool = False, workers: int | None = None, now: datetime | None = None):
    """Check every chain (see audit_verify); kept here for the callers of the service."""
    from workflow.services import audit_verify

    return audit_verify.verify(full=full, workers=workers, now=now)
