"""Who is signed in: sessions, their CSRF tokens, and one-time sign-in links.

A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie; the
database keeps only its SHA-256, with the user's name and the session's CSRF
token, which every form carries back (a POST without it changes nothing). A
session ends at sign-out, after a week unused, or when its user is removed.

One-time links sign their user in once, within a day. They are kept in the same
database (only their SHA-256), so the one the service printed when it made the
first operator, or one `mlops-agent web-user NAME --link` printed while the
service runs, works across restarts; issuing a new link voids the user's last.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable, Container
from dataclasses import dataclass

from agent.engine.db import Database

SESSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (
    token_hash TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created    REAL NOT NULL,
    seen       REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS web_links (
    token_hash TEXT PRIMARY KEY,
    user       TEXT NOT NULL UNIQUE,     -- one live link per user
    expires    REAL NOT NULL
);
"""
IDLE_LIMIT_S = 7 * 24 * 3600.0
LINK_TTL_S = 24 * 3600.0
_TOUCH_EVERY_S = 60.0


@dataclass(frozen=True)
class Session:
    user: str  # the web user's name, without the `web:` prefix
    csrf: str
    seen: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class Sessions:
    def __init__(
        self,
        db: Database,
        users: Container[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.users = users
        self.clock = clock

    async def open(self) -> None:
        await self.db.run(lambda conn: conn.executescript(SESSION_SCHEMA))

    async def create(self, user: str) -> str:
        """A new session for `user`; returns the cookie's token."""
        token = secrets.token_urlsafe(32)
        await self.db.run(_insert, _digest(token), user, secrets.token_urlsafe(32), self.clock())
        return token

    async def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        found = await self.db.run(_get, _digest(token))
        now = self.clock()
        if found is None or found.user not in self.users or now - found.seen > IDLE_LIMIT_S:
            return None
        if now - found.seen > _TOUCH_EVERY_S:
            await self.db.run(_touch, _digest(token), now)
        return found

    async def end(self, token: str | None) -> None:
        if token:
            await self.db.run(_delete, _digest(token))


class OneTimeLinks:
    """Tokens that sign a user in once (the operator's first sign-in URL)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def issue(self, user: str) -> str:
        return await self.db.run(issue_link, user, self.clock())

    async def redeem(self, token: str) -> str | None:
        """The link's user, once; None for an unknown, used or expired token."""
        return await self.db.run(_redeem_link, _digest(token), self.clock())


def issue_link(conn: sqlite3.Connection, user: str, now: float | None = None) -> str:
    """A new one-time link token for `user` (their last one stops working); for the service
    and for `mlops-agent web-user --link`, which writes into the service's database."""
    conn.executescript(SESSION_SCHEMA)
    token = secrets.token_urlsafe(32)
    now = time.time() if now is None else now
    conn.execute(
        "INSERT INTO web_links (token_hash, user, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (user) DO UPDATE SET token_hash = excluded.token_hash,"
        " expires = excluded.expires",
        (_digest(token), user, now + LINK_TTL_S),
    )
    return token


def _redeem_link(conn: sqlite3.Connection, digest: str, now: float) -> str | None:
    row = conn.execute(
        "DELETE FROM web_links WHERE token_hash = ? RETURNING user, expires", (digest,)
    ).fetchone()
    if row is None or row[1] < now:
        return None
    return str(row[0])


def _insert(conn: sqlite3.Connection, digest: str, user: str, csrf: str, now: float) -> None:
    conn.execute(
        "INSERT INTO web_sessions (token_hash, user, csrf, created, seen) VALUES (?, ?, ?, ?, ?)",
        (digest, user, csrf, now, now),
    )


def _get(conn: sqlite3.Connection, digest: str) -> Session | None:
    row = conn.execute(
        "SELECT user, csrf, seen FROM web_sessions WHERE token_hash = ?", (digest,)
    ).fetchone()
    return Session(*row) if row else None


def _touch(conn: sqlite3.Connection, digest: str, now: float) -> None:
    conn.execute("UPDATE web_sessions SET seen = ? WHERE token_hash = ?", (now, digest))


def _delete(conn: sqlite3.Connection, digest: str) -> None:
    conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (digest,))
