"""Set-based SQL of batches: parts of case data read and written in place, ids in order.

A batch of ten thousand cases must not bring every case's JSON document to Python
and back, nor send a statement per case. These helpers speak SQLite's JSON
functions (3.38+: `->`) and PostgreSQL's jsonb alike, so the services stay
dialect-free.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Integer, String, Text, bindparam, cast, func, literal_column, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from workflow.clock import as_utc
from workflow.database import id_in
from workflow.extensions import db
from workflow.models import CaseData

_NO_SYNC = {"synchronize_session": False}
_MISSING = object()


@contextmanager
def quiet_gc(size: int | None = None) -> Iterator[None]:
    """No cyclic garbage collection during a batch of `size` cases (100 or more; None: any).

    A county batch allocates tens of thousands of short-lived tuples, which trips the
    collector into walking the whole heap again and again (half the time of a 10,000-case
    approval in the benchmark); the batch makes no reference cycles worth collecting,
    and reference counting still frees everything it drops. A village's batch of a few
    hundred cases already trips full collections of a large heap (a fifth of the demo
    survey's time), hence the low threshold.
    """
    if (size is not None and size < 100) or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def data_path(path: tuple[str, ...], dialect: str):
    """SQL for the JSON text of case_data.data at `path` (NULL when absent), on either database.

    Only the fragment crosses to Python, never the whole document: a survey with
    its judgement is most of a case's data, and decoding it is most of a batch's cost.
    """
    column = CaseData.__table__.c.data
    if dialect == "postgresql":
        return cast(column.op("#>", return_type=JSONB)(literal_column(_pg_path(path))), Text)
    return column.op("->", return_type=Text)(literal_column(_sqlite_path(path)))


def _pg_path(path: tuple[str, ...]) -> str:
    _check_keys(path)
    return "'{" + ",".join(path) + "}'"


def _sqlite_path(path: tuple[str, ...]) -> str:
    _check_keys(path)
    return "'$." + ".".join(path) + "'"


def _check_keys(path: tuple[str, ...]) -> None:
    # The keys are spelled into the SQL: our own constants, plain identifiers only.
    if not path or not all(k.isidentifier() and k.isascii() for k in path):
        raise ValueError(f"not a plain JSON path: {path!r}")


def nester(paths: tuple[tuple[str, ...], ...]) -> Callable[[tuple], dict]:
    """A function making {key: {key: value}} from the JSON texts found at `paths`.

    A path not there (NULL) is left out, as a missing key. The rows of one batch
    hold the same few values (a round number, a surveyor's id), so each distinct
    text is decoded once and its value shared: data loaded in part is read-only.
    """
    decoded: dict[str, object] = {}
    plan = [(path[:-1], path[-1]) for path in paths]
    loads = json.loads

    def nest(texts) -> dict:
        out: dict = {}
        for (parents, leaf), text in zip(plan, texts, strict=True):
            if text is None:
                continue
            value = decoded.get(text, _MISSING)
            if value is _MISSING:
                value = loads(text)
                if len(decoded) < 10_000:  # bounded: a batch of all-different values
                    decoded[text] = value
            node = out
            for key in parents:
                child = node.get(key)
                if child is None:
                    child = node[key] = {}
                node = child
            node[leaf] = value
        return out

    return nest


def set_keys(changed: list, allowed: frozenset[str], trigger: str) -> None:
    """Write the `allowed` top-level keys a step set into data it loaded only in part.

    `changed` holds (row, firing) pairs: the row's data as loaded, the firing's as
    the step left it. Each key is set in place; the rest of each document stays in
    the database untouched (it was never read). A batch sharing one value (an
    appraisal meeting) writes it in one statement.
    """
    by_value: dict[tuple[str, str], list[int]] = {}
    for r, f in changed:
        old, new = r.data or {}, f.case_data
        keys = [k for k in allowed if k in new and (k not in old or new[k] != old[k])]
        if {**old, **{k: new[k] for k in keys}} != new:
            # Writing back a document loaded in part would drop the rest of it.
            raise RuntimeError(f"{trigger} changed case data it may not write")
        for key in keys:
            text = json.dumps(new[key], separators=(",", ":"))
            by_value.setdefault((key, text), []).append(r.id)
    details = CaseData.__table__
    dialect = db.session.get_bind().dialect.name
    single: dict[str, list[tuple[int, str]]] = {}
    for (key, text), ids in by_value.items():
        if len(ids) < 50:  # each case its own value: below, all in one statement
            single.setdefault(key, []).extend((i, text) for i in ids)
            continue
        value = _json_set(key, bindparam(None, text, type_=Text), dialect)
        db.session.execute(
            update(details).where(id_in(details.c.case_id, ids)).values(data=value),
            execution_options=_NO_SYNC,
        )
    for key, pairs in single.items():
        if dialect == "postgresql":
            # One UPDATE … FROM jsonb_each({case id: value}): PostgreSQL runs an
            # executemany as a statement per row, and a text[] of JSON values costs
            # the driver an escaping pass over every character.
            document = "{" + ",".join(f'"{i}":{t}' for i, t in pairs) + "}"
            values = (
                func.jsonb_each(cast(bindparam(None, document, type_=Text), JSONB))
                .table_valued("key", "value")
                .render_derived()
            )
            db.session.execute(
                update(details)
                .where(details.c.case_id == cast(values.c.key, Integer))
                .values(
                    data=func.jsonb_set(
                        func.coalesce(details.c.data, literal_column("'{}'::jsonb")),
                        literal_column(_pg_path((key,))),
                        values.c.value,
                    )
                ),
                execution_options=_NO_SYNC,
            )
            continue
        db.session.execute(  # SQLite's executemany: one prepared statement, stepped per row
            update(details)
            .where(details.c.case_id == bindparam("b_id"))
            .values(data=_json_set(key, bindparam("b_value", type_=Text), dialect)),
            [{"b_id": i, "b_value": t} for i, t in pairs],
            execution_options=_NO_SYNC,
        )


def _json_set(key: str, value, dialect: str):
    """SQL: case_data.data with `key` set to the JSON text `value` (other keys unchanged)."""
    _check_keys((key,))
    column = CaseData.__table__.c.data
    if dialect == "postgresql":
        return func.jsonb_set(
            func.coalesce(column, literal_column("'{}'::jsonb")),
            literal_column(_pg_path((key,))),
            cast(value, JSONB),
        )
    return func.json_set(
        func.coalesce(column, literal_column("'{}'")),
        literal_column(_sqlite_path((key,))),
        func.json(value),
    )


def ordered_ids(ids: list[int]):
    """A FROM clause of the ids in their order: (source, id column, position column).

    One bound array (PostgreSQL) or JSON text (SQLite), whatever the number of ids;
    an INSERT … SELECT ordered by the position numbers its rows as an insert row by
    row in that order would.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        source = (
            func.unnest(bindparam(None, list(ids), type_=ARRAY(Integer)))
            .table_valued("value", with_ordinality="position")
            .render_derived()
        )
        return source, source.c.value, source.c.position
    source = func.json_each(bindparam(None, json.dumps(list(ids)), type_=String)).table_valued(
        "value", "key"
    )
    return source, source.c.value, source.c.key


def copy_rows(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows as they are: COPY on PostgreSQL, one executemany on SQLite.

    Aware datetimes become what SQLAlchemy's SQLite DateTime stores (naive UTC text).
    """
    if not rows:
        return
    conn = db.session.connection()
    quoted = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    fixed = [
        tuple(as_utc(v).strftime(stamp) if isinstance(v, datetime) else v for v in row)
        for row in rows
    ]
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", fixed)
