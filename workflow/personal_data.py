"""Personal data at rest: ID numbers encrypted with a key from configuration, never the DB.

Each ID number is stored three ways: encrypted (Fernet: AES-128-CBC + HMAC-SHA256),
as a keyed hash (HMAC-SHA256) for uniqueness and look-up, and masked
(430623********1234) for every listing, export, notice and log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from states.identity import mask_id_number

_keys: dict[str, object] = {}


def configure(key: str | None, instance: Path) -> None:
    """Use EXITFLOW_DATA_KEY, else a key generated once into instance/data_key (0600)."""
    if not key:
        path = instance / "data_key"
        if not path.exists():
            from workflow.config import write_private

            write_private(path, Fernet.generate_key().decode())  # 0600 from the first byte
        key = path.read_text().strip()
    raw = base64.urlsafe_b64decode(key.encode())
    if len(raw) != 32:
        raise ValueError("EXITFLOW_DATA_KEY must be 32 bytes, url-safe base64 (Fernet key)")
    _keys["fernet"] = Fernet(key.encode())
    # A separate subkey for the blind index, so the hash never reveals the cipher key.
    _keys["index"] = hmac.new(raw, b"exitflow id index", hashlib.sha256).digest()


def fingerprint() -> str:
    """A short name of the data key in use (reveals nothing of the key): for the audit record."""
    return hmac.new(_keys["index"], b"exitflow key fingerprint", hashlib.sha256).hexdigest()[:16]


def encrypt(value: str) -> str:
    """The ciphertext of an ID number."""
    return _keys["fernet"].encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The ID number back; a token made with another key is an error."""
    try:
        return _keys["fernet"].decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt: wrong EXITFLOW_DATA_KEY?") from None


def index(value: str) -> str:
    """The keyed hash of an ID number (uniqueness, look-up)."""
    return hmac.new(_keys["index"], value.encode(), hashlib.sha256).hexdigest()


def protect(value: str) -> dict:
    """The three stored forms of an ID number."""
    return {"cipher": encrypt(value), "hash": index(value), "masked": mask_id_number(value)}
