"""The append-only, hash-chained audit record of every transition."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from workflow.extensions import UTCDateTime, db


class AuditRecord(db.Model):
    """One signed step: who, in which role, when, what; `hash` chains it to the record before.

    Records form one chain per county (`chain` is the county's code; acts above
    any county take their city's or province's code, acts of no region the
    chain "-"), so that writers in different counties never wait on each other.
    The chain "" holds the records written before chains were split (one global
    chain); every new chain starts from its last hash.
    """

    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_records_chain_seq"),)

    # Insertion order across chains (not hashed): listings and "recent actions".
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(String(12), default="")
    # The position in its chain, from 1.
    seq: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    case_version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_username: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The exact canonical JSON that was hashed (a JSON column may reorder or
    # re-format numbers on the way back, which would break the chain).
    data_json: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChain(db.Model):
    """A chain that exists, and the hash its first record links to (its genesis)."""

    __tablename__ = "audit_chains"

    chain: Mapped[str] = mapped_column(String(12), primary_key=True)
    genesis: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditCheckpoint(db.Model):
    """Every chain's head at one moment, itself hash-chained (a signed tree head, RFC 6962 style).

    Truncating or rewriting one county's chain no longer matches the heads
    recorded here; the newest checkpoint's hash can be printed and published.
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Canonical JSON {chain: [seq, hash]} of every chain's head, as hashed.
    heads_json: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditVerification(db.Model):
    """A successful verification up to a checkpoint: where the next incremental run starts."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_seq: Mapped[int] = mapped_column(Integer)
    full: Mapped[bool] = mapped_column(default=False)
    records: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# Append-only in the database itself: the application never updates or deletes a
# record, and these triggers refuse it to anyone else connecting as the app's user.
def append_only(table: str) -> dict[str, list[str]]:
    """The statements that make `table` refuse UPDATE, DELETE (and TRUNCATE), per dialect."""
    return {
        "sqlite": [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
        ],
        "postgresql": [
            "CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()",
        ],
    }


APPEND_ONLY_TABLES = ("audit_records", "audit_chains", "audit_checkpoints")
APPEND_ONLY = append_only("audit_records")  # the statements of the first migration


def _append_only(table, connection, **_kw):
    for statement in append_only(table.name).get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


for _table in (AuditRecord, AuditChain, AuditCheckpoint):
    event.listen(_table.__table__, "after_create", _append_only)
