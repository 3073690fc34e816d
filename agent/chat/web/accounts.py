"""Web users: a name, a password hash, and whether they may approve.

Users come from `MLOPS_WEB_USERS` (JSON) and the users file
(`MLOPS_WEB_USERS_FILE`, default `<state dir>/web_users.json`), both the same
shape; where both name a user, the environment wins:

    {"alice": {"password": "scrypt$16384$8$1$<salt>$<hash>", "approver": true},
     "bob":   {"password": "scrypt$…", "approver": false}}

`mlops-agent web-user NAME [--approver]` writes a user into the file with a
hash of a password it asks for. A user with no password (`"password": null`)
can sign in only through a one-time link: the local operator the service
creates on a fresh machine is one. Hashes are scrypt from the standard library
(n=2^14, r=8, p=1, 16-byte salt), compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
OPERATOR = "operator"
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


class AccountsError(ValueError):
    """A users list or file is invalid; the message says where and what would be valid."""


class WebUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    password: str | None = Field(None, description="scrypt hash; None: one-time links only")
    approver: bool = False
    admin: bool = False  # sees every conversation on the page, whatever its route


WebUsers = dict[str, WebUser]
_USERS = TypeAdapter(WebUsers)


def hash_password(password: str) -> str:
    if not password:
        raise AccountsError("the password is empty")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return "$".join([_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, hashed: str | None) -> bool:
    """True when `password` matches; False for a wrong one, no hash, or an unreadable hash."""
    if not hashed:
        return False
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def check_hash(hashed: str) -> None:
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME or not all(p.isdigit() for p in parts[1:4]):
        raise AccountsError(
            "a password must be an scrypt hash made by `mlops-agent web-user`"
            " (scrypt$16384$8$1$<salt>$<hash>), not the password itself"
        )


def parse_users(raw: str | dict[str, Any], where: str = "") -> WebUsers:
    """Users from JSON text or a decoded object; errors name `where` (if given) and the user."""
    at = f"{where}: " if where else ""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        users = _USERS.validate_python(data)
    except json.JSONDecodeError as exc:
        raise AccountsError(f"{at}not JSON ({exc.msg}); e.g. {_EXAMPLE}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(map(str, first["loc"]))
        raise AccountsError(f"{at}{loc}: {first['msg']}; e.g. {_EXAMPLE}") from None
    for name, user in users.items():
        if not NAME.fullmatch(name):
            raise AccountsError(
                f"{at}invalid user name {name!r}: 1-32 lowercase letters, digits, . _ -"
            )
        if user.password is not None:
            try:
                check_hash(user.password)
            except AccountsError as exc:
                raise AccountsError(f"{at}user {name!r}: {exc}") from None
    return users


def read_users_file(path: Path) -> WebUsers:
    if not path.exists():
        return {}
    return parse_users(path.read_text() or "{}", f"users file {path}")


def write_users_file(path: Path, users: WebUsers) -> None:
    """Write atomically, readable by the owner only (it holds password hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {name: user.model_dump() for name, user in sorted(users.items())}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


def set_user(path: Path, name: str, user: WebUser) -> None:
    if not NAME.fullmatch(name):
        raise AccountsError(f"invalid user name {name!r}: 1-32 lowercase letters, digits, . _ -")
    users = read_users_file(path)
    users[name] = user
    write_users_file(path, users)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


_EXAMPLE = '{"alice": {"password": "scrypt$…", "approver": true}}'
