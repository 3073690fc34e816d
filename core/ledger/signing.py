"""The ledger key and the MAC every ledger record carries.

The key lives in a file only the service (and the skills it starts) can read;
the model sees neither files nor environment. A row edited by anything without
the key no longer verifies, and the ledger then treats it as absent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

KEY_BYTES = 32


def create_key(path: Path) -> bytes:
    """Create the key file (32 random bytes, mode 0600) if missing; return the key either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(path)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(KEY_BYTES))
    return load_key(path)


def load_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        key = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"ledger key file {path} cannot be read: {exc.strerror}") from None
    # A key others can read protects nothing: refuse rather than trust it.
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"ledger key file {path} must be mode 0600 (it is {oct(mode & 0o777)})")
    if len(key) != KEY_BYTES:
        raise ValueError(f"ledger key file {path} must hold {KEY_BYTES} bytes, not {len(key)}")
    return key


def mac(key: bytes, table: str, values: tuple[Any, ...]) -> str:
    """HMAC-SHA256 over the table name and the record's fields in canonical JSON."""
    canonical = json.dumps([table, *values], separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, table: str, values: tuple[Any, ...], tag: str | None) -> bool:
    return tag is not None and hmac.compare_digest(mac(key, table, values), tag)
