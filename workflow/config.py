"""Configuration: defaults, then instance/config.py, then EXITFLOW_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
    "EXITFLOW_DATA_KEY",
)


def _secret(instance: Path) -> str:
    """The session key, generated once into instance/ (CONTRACT.md)."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


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
    cfg["ALLOW_FAKE_CLOCK"] = str(cfg["EXITFLOW_ALLOW_FAKE_CLOCK"]).lower() in ("1", "true", "yes")
    return cfg
