"""Backups of the embedded SQLite database (PostgreSQL: pg_dump, see README)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from workflow.errors import ExitflowError
from workflow.extensions import db

logger = logging.getLogger(__name__)


class BackupNotSupported(ExitflowError):
    """Online backup here is for SQLite; PostgreSQL uses pg_dump."""


def _sqlite_path() -> Path:
    engine = db.engine
    if engine.dialect.name != "sqlite" or not engine.url.database:
        raise BackupNotSupported(
            "exitflow backup handles the SQLite database; for PostgreSQL use "
            "pg_dump -Fc DBNAME > exitflow.dump and pg_restore -d DBNAME exitflow.dump"
        )
    return Path(engine.url.database)


def _progress(callback):
    def report(status, remaining, total):
        if callback:
            callback(total - remaining, total)

    return report


def backup(target: Path, progress=None) -> int:
    """Copy the live database to `target` with SQLite's online backup API; returns pages."""
    source_path = _sqlite_path()
    db.session.remove()
    source = sqlite3.connect(source_path)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest, pages=256, progress=_progress(progress))
        pages = dest.execute("PRAGMA page_count").fetchone()[0]
        check = dest.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise ExitflowError(f"the backup failed its integrity check: {check}")
    finally:
        dest.close()
        source.close()
    logger.info("backup of %s written to %s (%d pages)", source_path, target, pages)
    return pages


def restore(source_file: Path, progress=None) -> int:
    """Replace the database's content with a backup (online, page by page); returns pages."""
    target_path = _sqlite_path()
    if not source_file.is_file():
        raise ExitflowError(f"no backup at {source_file}")
    db.session.remove()
    db.engine.dispose()
    source = sqlite3.connect(f"file:{source_file}?mode=ro", uri=True)
    try:
        check = source.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise ExitflowError(f"the backup is damaged: {check}")
        dest = sqlite3.connect(target_path)
        try:
            source.backup(dest, pages=256, progress=_progress(progress))
            pages = dest.execute("PRAGMA page_count").fetchone()[0]
        finally:
            dest.close()
    finally:
        source.close()
    logger.info("database %s restored from %s", target_path, source_file)
    return pages
