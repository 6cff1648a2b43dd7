"""Configuration: defaults, then instance/config.py, then EXITFLOW_* environment variables."""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from workflow.errors import ConfigurationError

KEYS = (
    "EXITFLOW_DATABASE_URL",
    "EXITFLOW_SECRET_KEY",
    "EXITFLOW_SCHEDULER",
    "EXITFLOW_ALLOW_FAKE_CLOCK",
    "EXITFLOW_NOW",
    "EXITFLOW_ENV",
    "EXITFLOW_PUBLIC_URL",
    "EXITFLOW_NOTICE_FONT",
    "EXITFLOW_SWEEP_SECONDS",
    "EXITFLOW_CHECKPOINT_MINUTES",
    "EXITFLOW_STATS_SECONDS",
    "EXITFLOW_STATS_LIVE_LIMIT",
    "EXITFLOW_ID_PROBE_LIMIT",
    "EXITFLOW_ID_NEAR_MISS_LIMIT",
    "EXITFLOW_TRUSTED_PROXIES",
    "EXITFLOW_DATA_KEY",
    "EXITFLOW_NOTICE_RETENTION",
    "EXITFLOW_REDIS_URL",
    "EXITFLOW_REDIS_PREFIX",
    "EXITFLOW_SESSION_IDLE_MINUTES",
    "EXITFLOW_MAX_JSON_BYTES",
)


def _secret(instance: Path) -> str:
    """The session key, generated once into instance/ (CONTRACT.md), readable by us only."""
    path = instance / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


# Instance files that hold keys or personal data: only the owner may read them.
PRIVATE_FILES = ("secret_key", "data_key", "config.py")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_folder(path: Path) -> None:
    """The instance folder, created 0700; one of ours that others may enter is tightened."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        path.chmod(0o700)
        return
    info = path.stat()
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)


def write_private(path: Path, text: str) -> bool:
    """Create `path` 0600 holding `text`, atomically; False when it exists already.

    The content goes to a temporary file made 0600 from the start (never readable by
    others, not even for an instant), which is then linked into place: a second
    process starting at the same moment finds the whole file or creates its own,
    never an empty or half-written one.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive creation, mode 0600
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    finally:
        os.unlink(tmp)
    return True


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would follow the umask).

    SQLite gives the -wal, -shm and -journal files the permissions of the database
    file, so they are 0600 too. An existing file is left as it is.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not parsed.drivername.startswith("sqlite") or name in (None, "", ":memory:"):
        return
    if name.startswith("file:") or parsed.query.get("uri"):
        return  # a URI filename: the operator chose how it is opened
    path = Path(name)
    if path.exists() or not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it at the same moment


def _private_name(name: str) -> bool:
    if name in PRIVATE_FILES:
        return True
    return any(name.endswith(s + c) for s in SQLITE_SUFFIXES for c in SQLITE_COMPANIONS)


def instance_permission_problems(path) -> list[str]:
    """What in the instance folder others could read (for `exitflow doctor`); [] when fine.

    The folder must be 0700 and its key, configuration and SQLite files (with their
    -wal, -shm and -journal files) 0600: nobody but the application's user reads them.
    """
    folder = Path(path)
    if not folder.is_dir():
        return [f"实例目录 {folder} 不存在"]
    problems = []
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        problems.append(f"实例目录 {folder} 的权限为 {mode:04o},应为 0700(其他用户可以进入)")
    for file in sorted(folder.iterdir()):
        if not _private_name(file.name) or not file.is_file():
            continue
        mode = stat.S_IMODE(file.stat().st_mode)
        if mode & 0o077:
            problems.append(f"文件 {file} 的权限为 {mode:04o},应为 0600(其他用户可以读取)")
    return problems


def notice_retention(value) -> str | int:
    """EXITFLOW_NOTICE_RETENTION: `announcement`, or whole days after a window closes.

    How long a closed publicity window's list with names stays public (the notice's
    code verifies it for ever): `announcement` (the default) until every case it lists
    has been announced or has left the procedure (workflow/services/publicity.py,
    `names_public`); a number N until N days after the end of the publicity period.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip().lower()
    if text == "announcement":
        return text
    if text.isdigit():
        return int(text)
    raise ConfigurationError(
        f"EXITFLOW_NOTICE_RETENTION 须为 announcement 或天数(非负整数),而不是 {value!r}"
    )


def idle_minutes(value) -> int:
    """EXITFLOW_SESSION_IDLE_MINUTES: whole minutes, 1 to 480 (the absolute limit is 8 hours)."""
    text = str(value).strip()
    if text.isdigit() and 1 <= int(text) <= 480:
        return int(text)
    raise ConfigurationError(
        f"EXITFLOW_SESSION_IDLE_MINUTES 须为 1 到 480 之间的整数(分钟),而不是 {value!r}"
    )


def load(instance: Path, overrides: dict | None) -> dict:
    """The effective configuration as a dict of Flask config keys."""
    cfg: dict = {
        "EXITFLOW_DATABASE_URL": f"sqlite:///{instance / 'exitflow.db'}",
        "EXITFLOW_SCHEDULER": "off",
        "EXITFLOW_ALLOW_FAKE_CLOCK": "",
        "EXITFLOW_NOW": "",
        "EXITFLOW_ENV": "development",
        "EXITFLOW_PUBLIC_URL": "http://127.0.0.1:5000",
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "EXITFLOW_MAX_JSON_BYTES": 2 * 1024 * 1024,
        "EXITFLOW_TOKEN_HOURS": 12,
        "EXITFLOW_NOTICE_RETENTION": "announcement",
        # Rate limits and login-failure counters: Redis when set (shared by every
        # worker), else the database (shared too: one SQLite file or PostgreSQL).
        "EXITFLOW_REDIS_URL": "",
        "EXITFLOW_REDIS_PREFIX": "exitflow:",
        # A web session ends after this long without a request (and 8 hours after sign-in).
        "EXITFLOW_SESSION_IDLE_MINUTES": 30,
    }
    file = instance / "config.py"
    if file.exists():
        namespace: dict = {}
        exec(compile(file.read_text(), str(file), "exec"), namespace)  # noqa: S102 - operator's own file
        cfg.update({k: v for k, v in namespace.items() if k.isupper()})
    cfg.update({k: os.environ[k] for k in KEYS if k in os.environ})
    cfg.update(overrides or {})
    if not cfg.get("EXITFLOW_SECRET_KEY"):
        cfg["EXITFLOW_SECRET_KEY"] = _secret(instance)
    cfg["SECRET_KEY"] = cfg["EXITFLOW_SECRET_KEY"]
    url = cfg["EXITFLOW_DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    _private_sqlite_file(url)
    cfg["EXITFLOW_NOTICE_RETENTION"] = notice_retention(cfg["EXITFLOW_NOTICE_RETENTION"])
    cfg["EXITFLOW_SESSION_IDLE_MINUTES"] = idle_minutes(cfg["EXITFLOW_SESSION_IDLE_MINUTES"])
    cfg["ALLOW_FAKE_CLOCK"] = str(cfg["EXITFLOW_ALLOW_FAKE_CLOCK"]).lower() in ("1", "true", "yes")
    return cfg
