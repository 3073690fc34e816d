"""Web users: a name, a password hash, and whether they may approve.

Users come from `MLOPS_WEB_USERS` (JSON) and the users file
(`MLOPS_WEB_USERS_FILE`, default `<state dir>/web_users.json`), both the same
shape; where both name a user, the environment wins:

    {"alice": {"password": "scrypt$131072$8$1$<salt>$<hash>", "approver": true},
     "bob":   {"password": "scrypt$…", "approver": false}}

`mlops-agent web-user NAME [--approver] [--admin]` writes a user into the file
with a hash of a password it asks for. A user with no password (`"password":
null`) can sign in only through a one-time link: the local operator the service
creates on a fresh machine is one. Hashes: `passwords` (scrypt, OWASP's
parameters). An admin sees every conversation on the page; everyone else sees
their routes' and their own (`visibility`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agent.accounts.passwords import (
    PasswordError,
    check_hash,
    hash_password,
    verify_password,
)

__all__ = ["AccountsError", "WebUser", "hash_password", "verify_password"]

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
OPERATOR = "operator"


class AccountsError(PasswordError):
    """A users list or file is invalid; the message says where and what would be valid."""


class WebUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    password: str | None = Field(None, description="scrypt hash; None: one-time links only")
    approver: bool = False
    admin: bool = False  # sees every conversation on the page, whatever its route


WebUsers = dict[str, WebUser]
_USERS = TypeAdapter(WebUsers)


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
            except PasswordError as exc:
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


_EXAMPLE = '{"alice": {"password": "scrypt$…", "approver": true}}'
