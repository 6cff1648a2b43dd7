"""Verifying the audit chains: in parallel on every core, from the last verified checkpoint.

A run first checkpoints every chain's head, then checks (1) the checkpoint
chain's links and hashes, (2) each audit chain from its start (genesis with
`full`, else the last verified checkpoint) to the new checkpoint: contiguous
positions, links, hashes, and the heads every checkpoint on the way claimed,
and (3) that every version of every case has its record (deleting a case's
newest records, which no chain can see, shows there). A success is recorded
as where the next incremental run starts.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context

from sqlalchemy import create_engine, select

from workflow import clock
from workflow.extensions import db
from workflow.models import AuditChain, AuditCheckpoint, AuditRecord, AuditVerification, Case
from workflow.services import audit

logger = logging.getLogger(__name__)

PARALLEL_FROM = 20_000  # records: below this a process pool costs more than it saves
_BATCH = 5_000


@dataclass
class VerifyResult:
    """The outcome of a verification."""

    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None
    chain: str | None = None
    checkpoint: int | None = None
    checkpoint_hash: str | None = None
    chains: int = 0
    full: bool = False


@dataclass
class _Walk:
    chain: str
    checked: int = 0
    problem: str = ""
    seq: int | None = None
    # case_id -> [distinct versions seen, lowest, highest]
    versions: dict[int, list[int]] = field(default_factory=dict)


def verify(full: bool = False, workers: int | None = None, now: datetime | None = None):
    """Checkpoint, then verify every chain up to it; the first problem found, or ok."""
    now = now or clock.now()
    audit.checkpoint(now)
    checkpoints = list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    if not checkpoints:  # no record at all
        return VerifyResult(True, 0, full=full)
    target = checkpoints[-1]
    start = None
    if not full:
        last = db.session.scalar(
            select(AuditVerification.checkpoint_seq).order_by(AuditVerification.id.desc()).limit(1)
        )
        start = next((c for c in checkpoints if c.seq == last), None)
        if last is not None and start is None:
            return VerifyResult(
                False,
                0,
                f"checkpoint {last}, verified before, is missing",
                seq=last,
                chain="checkpoint",
            )
    problem = _check_checkpoints(checkpoints) or _check_monotonic(
        [c for c in checkpoints if start is None or c.seq >= start.seq]
    )
    if problem:
        return VerifyResult(False, 0, problem[1], seq=problem[0], chain="checkpoint", full=full)

    start_heads = json.loads(start.heads_json) if start else {}
    claims: dict[str, list[tuple[int, str]]] = {}
    for cp in checkpoints:
        if start is None or cp.seq > start.seq:
            for chain, (seq, digest) in json.loads(cp.heads_json).items():
                claims.setdefault(chain, []).append((seq, digest))
    target_heads = json.loads(target.heads_json)
    genesis = dict(db.session.execute(select(AuditChain.chain, AuditChain.genesis)).all())
    allowed = {audit.GENESIS, audit.legacy_head()}
    tasks = []
    for chain, (end, _digest) in sorted(target_heads.items()):
        if chain in start_heads:
            seq0, prev0 = start_heads[chain]
        else:
            seq0, prev0 = 0, (audit.GENESIS if chain == audit.LEGACY else genesis.get(chain))
            if prev0 not in allowed:
                return VerifyResult(
                    False, 0, f"chain {chain} starts from an unknown hash", chain=chain, full=full
                )
        tasks.append((chain, seq0, prev0, end, sorted(claims.get(chain, []))))
    walks = _run(tasks, workers)
    checked = sum(w.checked for w in walks)
    for w in walks:
        if w.problem:
            return VerifyResult(False, checked, w.problem, seq=w.seq, chain=w.chain, full=full)
    problem = _check_versions(walks, full, start.at if start else None, target.at)
    if problem:
        return VerifyResult(False, checked, problem, full=full)
    db.session.add(AuditVerification(checkpoint_seq=target.seq, full=full, records=checked, at=now))
    db.session.commit()
    logger.info("audit verified to checkpoint %d: %d records", target.seq, checked)
    return VerifyResult(
        True,
        checked,
        checkpoint=target.seq,
        checkpoint_hash=target.hash,
        chains=len(tasks),
        full=full,
    )


def _check_checkpoints(checkpoints) -> tuple[int, str] | None:
    prev = audit.GENESIS
    for expected, cp in enumerate(checkpoints, start=1):
        if cp.seq != expected:
            return expected, f"checkpoint {expected} is missing"
        if cp.prev_hash != prev:
            return cp.seq, f"checkpoint {cp.seq} does not link to {cp.seq - 1}"
        digest = audit.checkpoint_hash(
            cp.seq, audit._stamp(cp.at), cp.heads_json, cp.records, cp.prev_hash
        )
        if digest != cp.hash:
            return cp.seq, f"checkpoint {cp.seq} was altered"
        prev = cp.hash
    return None


def _check_monotonic(checkpoints) -> tuple[int, str] | None:
    """A chain's head never moves back and a chain never vanishes (truncation shows here)."""
    before: dict[str, list] = {}
    for cp in checkpoints:
        heads = json.loads(cp.heads_json)
        for chain, (seq, _digest) in before.items():
            now_at = heads.get(chain, [0])[0]
            if now_at < seq:
                return cp.seq, (
                    f"{_name(chain)} went back from record {seq} to {now_at} "
                    f"(checkpoint {cp.seq}): records were deleted"
                )
        before = heads
    return None


def _run(tasks, workers) -> list[_Walk]:
    total = sum(end - seq0 for _c, seq0, _p, end, _cl in tasks)
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_FROM and len(tasks) > 1 else 0
    if workers <= 1:
        conn = db.session.connection()
        return [_walk(conn, *task) for task in tasks]
    url = db.engine.url.render_as_string(hide_password=False)
    # Biggest chains first, so no core is left with the longest one at the end.
    tasks = sorted(tasks, key=lambda t: t[3] - t[1], reverse=True)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_walk_in_process, [url] * len(tasks), tasks))


def _walk_in_process(url: str, task) -> _Walk:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return _walk(conn, *task)
    finally:
        engine.dispose()


def _walk(conn, chain, seq0, prev, end, claims) -> _Walk:
    """Check one chain's records in (seq0, end]: positions, links, hashes, claimed heads."""
    walk = _Walk(chain)
    table = AuditRecord.__table__
    claimed = dict(claims)
    expected, last = seq0 + 1, seq0
    versions = walk.versions
    while last < end:
        rows = conn.execute(
            select(
                table.c.seq,
                table.c.case_id,
                table.c.case_version,
                table.c.kind,
                table.c.trigger,
                table.c.from_state,
                table.c.to_state,
                table.c.actor_id,
                table.c.actor_username,
                table.c.actor_role,
                table.c.at,
                table.c.data_json,
                table.c.prev_hash,
                table.c.hash,
            )
            .where(table.c.chain == chain, table.c.seq > last, table.c.seq <= end)
            .order_by(table.c.seq)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for r in rows:
            where = f"{_name(chain)} record {expected}"
            if r.seq != expected:
                walk.problem, walk.seq = f"{where} is missing", expected
                return walk
            if r.prev_hash != prev:
                walk.problem, walk.seq = f"{where} does not link to the one before", r.seq
                return walk
            digest = audit.record_hash(
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
                audit._stamp(r.at),
                r.data_json,
                r.prev_hash,
                chain,
            )
            if digest != r.hash:
                walk.problem, walk.seq = f"{where} was altered", r.seq
                return walk
            if r.seq in claimed and claimed[r.seq] != digest:
                walk.problem, walk.seq = f"{where} differs from its checkpoint", r.seq
                return walk
            if r.case_id is not None and r.case_version is not None:
                seen = versions.get(r.case_id)
                if seen is None:
                    versions[r.case_id] = [1, r.case_version, r.case_version]
                else:
                    seen[0] += 1
                    seen[1] = min(seen[1], r.case_version)
                    seen[2] = max(seen[2], r.case_version)
            prev, expected, last = r.hash, expected + 1, r.seq
            walk.checked += 1
    if last < end:
        walk.problem, walk.seq = (
            f"{_name(chain)} ends at record {last}; a checkpoint saw it reach {end}",
            last + 1,
        )
    return walk


def _name(chain: str) -> str:
    return "legacy chain" if chain == audit.LEGACY else f"chain {chain}"


def _check_versions(walks, full, since, until) -> str | None:
    """Every version of every case changed in the range has its record."""
    seen: dict[int, list[int]] = {}
    for w in walks:
        for case_id, (n, low, high) in w.versions.items():
            mine = seen.get(case_id)
            seen[case_id] = (
                [n, low, high]
                if mine is None
                else [mine[0] + n, min(mine[1], low), max(mine[2], high)]
            )
    query = select(Case.id, Case.version, Case.updated_at)
    if not full and since is not None:
        query = query.where(Case.updated_at >= since)
    for case_id, version, updated in db.session.execute(query):
        n, low, high = seen.get(case_id, (0, 0, 0))
        first = 1 if full or since is None else low
        settled = clock.as_utc(updated) <= clock.as_utc(until)
        complete = (
            n > 0
            and low == first
            and n == high - first + 1
            and (high == version if settled else high <= version)
        )
        if not complete and _missing(case_id, version):
            missing = _missing(case_id, version)
            return f"case {case_id}: audit records missing for versions {missing[:5]}"
    return None


def _missing(case_id: int, version: int) -> list[int]:
    """Versions of a case with no record in any chain (past the checkpoint too)."""
    have = set(
        db.session.scalars(select(AuditRecord.case_version).where(AuditRecord.case_id == case_id))
    )
    return [v for v in range(1, version + 1) if v not in have]
