"""Engine settings per database, and when a transaction takes SQLite's write lock.

SQLite has one writer at a time. A transaction that may write begins
IMMEDIATE (it queues for the lock at BEGIN instead of failing later with
"database is locked" when it upgrades a stale read snapshot); a read-only one
(GET and HEAD requests, `reading()`) begins DEFERRED and takes no lock. Slow
work (parsing an upload, rendering a PDF, hashing a file) happens with no
transaction open: `end_transaction()` before it, `begin_write()` after it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Integer, String, any_, bindparam, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from workflow.extensions import db

# Arbitrary constants: the PostgreSQL advisory lock space of the audit chains
# (each record names the hash of the one before it in its chain, so appends to
# one chain are serialised; other chains go on) and the checkpoint chain's lock.
AUDIT_LOCK_KEY = 7_310_001
CHECKPOINT_LOCK_KEY = 7_310_003  # 7_310_002 is the scheduler's own lock


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
        conn.exec_driver_sql("BEGIN" if _READ_ONLY.get() else "BEGIN IMMEDIATE")


_READ_ONLY: ContextVar[bool] = ContextVar("exitflow_read_only", default=False)


def set_read_only(flag: bool):
    """Mark what follows in this context (a GET request) as reading only; returns a reset token."""
    return _READ_ONLY.set(flag)


def reset_read_only(token) -> None:
    """Undo set_read_only."""
    _READ_ONLY.reset(token)


@contextmanager
def reading():
    """Transactions begun inside take no write lock on SQLite (they must not write)."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def end_transaction() -> None:
    """End the session's transaction (nothing may be pending) before slow work begins."""
    if db.session.new or db.session.dirty or db.session.deleted:
        raise RuntimeError("end_transaction() with unsaved changes: commit them first")
    db.session.commit()


def begin_write() -> None:
    """From here on this context writes: end a read-only transaction; the next BEGIN takes the lock."""
    if _READ_ONLY.get():
        if db.session().in_transaction():
            end_transaction()
        _READ_ONLY.set(False)


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
