"""Who is signed in: sessions, their CSRF tokens, and one-time sign-in links.

A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie; the
database keeps only its SHA-256, with the user's name and the session's CSRF
token, which every form carries back (a POST without it changes nothing). A
session ends at sign-out, after a week unused, or when its user is removed.

One-time links are kept in memory only: each signs its user in once, and a
restart forgets the unused ones (the service prints a fresh link at start).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable, Container
from dataclasses import dataclass

from agent.db import Database

SESSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (
    token_hash TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created    REAL NOT NULL,
    seen       REAL NOT NULL
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

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._links: dict[str, tuple[str, float]] = {}

    def issue(self, user: str) -> str:
        # One live link per user: a new one replaces the last.
        self._links = {k: v for k, v in self._links.items() if v[0] != user}
        token = secrets.token_urlsafe(32)
        self._links[_digest(token)] = (user, self.clock() + LINK_TTL_S)
        return token

    def redeem(self, token: str) -> str | None:
        """The link's user, once; None for an unknown, used or expired token."""
        found = self._links.pop(_digest(token), None)
        if found is None or found[1] < self.clock():
            return None
        return found[0]


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
