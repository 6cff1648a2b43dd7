"""Audit chains per county, checkpoints, and verification (incremental, full, parallel)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tests.conftest import BACKENDS, tamper
from tests.factories import set_now
from workflow.extensions import db
from workflow.models import AuditChain, AuditCheckpoint, AuditRecord
from workflow.services import audit
from workflow.services.actors import SYSTEM

A = "/430000/430600/430623/430623100000/"
B = "/430000/430600/430624/430624100000/"


def events(path: str, n: int, start: int = 0) -> None:
    now = set_now("2019-11-12T09:00:00+08:00")
    for i in range(start, start + n):
        audit.record_event("note", SYSTEM, now + timedelta(seconds=i), {"i": i}, region_path=path)
    db.session.commit()


def chain_seqs(chain: str) -> list[int]:
    return list(
        db.session.scalars(
            select(AuditRecord.seq).where(AuditRecord.chain == chain).order_by(AuditRecord.seq)
        )
    )


def test_chain_of_a_path_is_its_county():
    assert audit.chain_of(A) == "430623"
    assert audit.chain_of("/430000/430600/") == "430600"
    assert audit.chain_of("/430000/") == "430000"
    assert audit.chain_of("/") == audit.chain_of(None) == "-"


def test_each_county_has_its_own_chain_and_both_verify(app):
    events(A, 3)
    events(B, 2)
    events(None, 1)
    assert chain_seqs("430623") == [1, 2, 3]
    assert chain_seqs("430624") == [1, 2]
    assert chain_seqs("-") == [1]
    result = audit.verify()
    assert result.ok and result.checked == 6 and result.chains == 3
    heads = audit.heads()
    assert heads["430623"][0] == 3 and heads["430624"][0] == 2


def test_incremental_run_reads_only_what_came_after_the_last_verified_checkpoint(app):
    events(A, 4)
    events(B, 4)
    assert audit.verify().checked == 8
    events(A, 2, start=10)
    second = audit.verify()
    assert second.ok and second.checked == 2
    assert audit.verify(full=True).checked == 10


def test_altering_an_old_record_is_found_by_a_full_run(app):
    events(A, 3)
    events(B, 3)
    assert audit.verify().ok
    tamper("UPDATE audit_records SET data_json=:d WHERE chain='430624' AND seq=2", {"d": '{"i":9}'})
    result = audit.verify(full=True)
    assert not result.ok and result.chain == "430624" and result.seq == 2
    assert "altered" in result.problem


def test_deleting_the_newest_record_of_one_chain_is_found_by_its_checkpoint(app):
    events(A, 3)
    events(B, 3)
    audit.checkpoint(set_now("2019-11-12T10:00:00+08:00"))
    tamper("DELETE FROM audit_records WHERE chain='430623' AND seq=3")
    result = audit.verify()
    assert not result.ok and "chain 430623 went back from record 3 to 2" in result.problem


def test_truncating_a_chain_is_found(app):
    events(A, 6)
    assert audit.verify().ok
    tamper("DELETE FROM audit_records WHERE chain='430623' AND seq > 2")
    for full in (False, True):
        result = audit.verify(full=full)
        assert not result.ok and "chain 430623 went back from record 6 to 2" in result.problem


def test_reordering_two_records_is_found(app):
    events(A, 4)
    tamper("UPDATE audit_records SET seq = 99 WHERE chain='430623' AND seq = 2")
    tamper("UPDATE audit_records SET seq = 2 WHERE chain='430623' AND seq = 3")
    tamper("UPDATE audit_records SET seq = 3 WHERE chain='430623' AND seq = 99")
    result = audit.verify(full=True)
    assert not result.ok and result.seq == 2 and "does not link" in result.problem


def test_a_forged_checkpoint_is_found(app):
    events(A, 3)
    cp = audit.checkpoint(set_now("2019-11-12T10:00:00+08:00"))
    forged = cp.heads_json.replace(cp.heads_json.split('"')[3], "f" * 64)
    tamper("UPDATE audit_checkpoints SET heads_json=:h WHERE seq=:s", {"h": forged, "s": cp.seq})
    result = audit.verify(full=True)
    assert not result.ok and result.chain == "checkpoint" and "altered" in result.problem


def test_a_checkpoint_forged_with_a_correct_hash_still_disagrees_with_the_chain(app):
    events(A, 3)
    at = audit.checkpoint(set_now("2019-11-12T10:00:00+08:00")).at
    tamper("DELETE FROM audit_checkpoints")
    # Re-made from scratch by someone who knows the formula, claiming another head hash.
    heads = audit.canonical({"430623": [3, "e" * 64]})
    digest = audit.checkpoint_hash(1, audit._stamp(at), heads, 3, audit.GENESIS)
    tamper(
        "INSERT INTO audit_checkpoints (seq, at, heads_json, records, prev_hash, hash) "
        "VALUES (1, :at, :h, 3, :p, :d)",
        {"at": at, "h": heads, "p": audit.GENESIS, "d": digest},
    )
    result = audit.verify(full=True)
    assert not result.ok and "differs from its checkpoint" in result.problem


def test_records_of_the_single_chain_stay_verifiable_as_its_first_segment(app):
    # A record written the old way: chain "", hashed without a chain name.
    now = set_now("2019-11-01T09:00:00+08:00")
    digest = audit.record_hash(
        1,
        None,
        None,
        "admin",
        "note",
        None,
        None,
        None,
        "system",
        "system",
        audit._stamp(now),
        "{}",
        audit.GENESIS,
    )
    db.session.add(
        AuditRecord(
            chain="",
            seq=1,
            kind="admin",
            trigger="note",
            actor_username="system",
            actor_role="system",
            at=now,
            data_json="{}",
            prev_hash=audit.GENESIS,
            hash=digest,
        )
    )
    db.session.commit()
    events(A, 2)
    genesis = db.session.scalar(select(AuditChain.genesis).where(AuditChain.chain == "430623"))
    assert genesis == digest  # the new chain starts where the legacy one ended
    assert audit.verify(full=True).ok
    tamper("UPDATE audit_records SET trigger='x' WHERE chain='' AND seq=1")
    assert not audit.verify(full=True).ok


def test_parallel_verification_agrees_with_one_process(app):
    for i in range(4):
        events(f"/430000/430600/43062{i}/", 5)
    single = audit.verify(full=True, workers=0)
    parallel = audit.verify(full=True, workers=2)
    assert single.ok and parallel.ok and single.checked == parallel.checked == 20
    tamper("UPDATE audit_records SET actor_username='x' WHERE chain='430622' AND seq=4")
    broken = audit.verify(full=True, workers=2)
    assert not broken.ok and broken.chain == "430622" and broken.seq == 4


def test_checkpoints_are_append_only_and_skip_when_nothing_changed(app):
    events(A, 2)
    assert audit.checkpoint(set_now("2019-11-12T10:00:00+08:00")) is not None
    assert audit.checkpoint(set_now("2019-11-12T10:10:00+08:00")) is None
    assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
        db.session.execute(text("DELETE FROM audit_checkpoints"))
    db.session.rollback()


@pytest.mark.parametrize("backend", BACKENDS[1:], indirect=True)
def test_writers_in_two_counties_do_not_wait_on_each_other(app):
    """One transaction holds county A's chain; county B appends and commits meanwhile."""
    events(A, 1)
    events(B, 1)
    holding, release = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def county_a():
        with app.app_context():
            try:
                audit.record_event(
                    "note", SYSTEM, set_now("2019-11-12T11:00:00+08:00"), {}, region_path=A
                )
                holding.set()
                release.wait(10)
                db.session.commit()
            except Exception as err:  # noqa: BLE001
                errors.append(err)
            finally:
                db.session.remove()

    thread = threading.Thread(target=county_a)
    thread.start()
    assert holding.wait(10)
    db.session.execute(text("SET LOCAL lock_timeout = '2s'"))
    audit.record_event("note", SYSTEM, set_now("2019-11-12T11:00:01+08:00"), {}, region_path=B)
    db.session.commit()  # did not wait for county A
    assert chain_seqs("430624") == [1, 2]
    release.set()
    thread.join()
    assert not errors
    assert chain_seqs("430623") == [1, 2]
