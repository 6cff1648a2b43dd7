"""What the benchmarks share: a fresh database to run on, and what they ran on."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote, unquote


@contextmanager
def database(folder: Path, url: str, default_schema: str):
    """The URL of a fresh database: a temporary SQLite file, or a PostgreSQL schema.

    `url` empty: SQLite in `folder`. Else PostgreSQL; its schema (named by
    `?options=-csearch_path%3D…`, else `default_schema`) is dropped and created
    again, and dropped at the end.
    """
    if not url:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    url = url.replace("postgresql://", "postgresql+psycopg://")
    found = re.search(r"options=-csearch_path=(\w+)", unquote(url))
    schema = found.group(1) if found else default_schema
    if not found:
        url += ("&" if "?" in url else "?") + "options=" + quote(f"-csearch_path={schema}")
    admin = create_engine(url)

    def recreate(create: bool) -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            if create:
                conn.execute(text(f"CREATE SCHEMA {schema}"))

    recreate(True)
    try:
        yield url
    finally:
        recreate(False)
        admin.dispose()


def describe_database() -> str:
    """The database and its version, as the bench ran on it."""
    from sqlalchemy import text

    from workflow.extensions import db

    if db.engine.dialect.name == "postgresql":
        server = db.session.scalar(text("SHOW server_version"))
        return f"PostgreSQL {server} (psycopg {version('psycopg')})"
    return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"


def cores() -> str:
    """The cores this process may use, of how many."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{usable} usable of {os.cpu_count()}"


def machine() -> str:
    """Cores, the load when the bench started, Python and SQLAlchemy."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{cores()} cores{load}; Python {platform.python_version()}, "
        f"SQLAlchemy {version('sqlalchemy')}"
    )
