"""Engine settings per database: SQLite serialises writers with BEGIN IMMEDIATE."""

from __future__ import annotations

import json

from sqlalchemy import Integer, String, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from workflow.extensions import db

# Arbitrary constants: the PostgreSQL advisory lock space of the audit chains
# (each record names the hash of the one before it in its chain, so appends to
# one chain are serialised; other chains go on) and the checkpoint chain's lock.
AUDIT_LOCK_KEY = 7_310_001
CHECKPOINT_LOCK_KEY = 7_310_002


def configure_engine(engine: Engine) -> None:
    """Per-dialect connection setup."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: county batches touch many pages
            cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # A deferred transaction that reads and then writes can fail with
        # "database is locked" when another writer got in between; taking the
        # write lock at BEGIN makes concurrent writers queue instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def lock_audit_chain(chain: str) -> None:
    """Serialise appends to one audit chain for the rest of this transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:k, hashtext(:c))"),
            {"k": AUDIT_LOCK_KEY, "c": chain},
        )
    # SQLite: the transaction already holds the database's write lock.


def lock_checkpoints() -> None:
    """Serialise checkpoints (short: they read every chain's head and append one row)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHECKPOINT_LOCK_KEY})


def is_postgres() -> bool:
    """Whether the session is bound to PostgreSQL."""
    return db.session.get_bind().dialect.name == "postgresql"


def id_in(column, ids: list[int]):
    """`column IN ids` as one bound parameter, whatever the number of ids.

    A literal IN list costs SQLAlchemy a bound parameter per id to compile and
    hits SQLite's and PostgreSQL's parameter limits; a JSON array (SQLite) or an
    array (PostgreSQL) is one parameter.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    values = (
        text("SELECT value FROM json_each(:ids)")
        .bindparams(bindparam("ids", json.dumps(list(ids)), type_=String))
        .columns(value=Integer)
    )
    return column.in_(values)
