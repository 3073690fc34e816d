"""Conversations: which opencode session and which chat thread each one is.

Keys: `job:<name>` (a job's events and the replies in its thread),
`sweep:<id>` (a sweep's trials), `chat:<channel>:<ts>` (a DM or a thread a
person started). The mapping is persistent, so a restart keeps every thread
attached to its session.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from agent.engine.db import Database


@dataclass(frozen=True)
class Conversation:
    key: str
    session_id: str | None
    channel: str | None
    thread_ts: str | None


@dataclass(frozen=True)
class Start:
    """Who started a person's conversation; `private`: a DM or a web page thread, theirs."""

    person: str
    private: bool


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> Conversation:
        return await self.db.run(_get, key)

    async def by_thread(self, channel: str, thread_ts: str) -> str | None:
        return await self.db.run(_by_thread, channel, thread_ts)

    async def set_session(self, key: str, session_id: str) -> None:
        await self.db.run(_upsert, key, "session_id", session_id)

    async def set_thread(self, key: str, channel: str, thread_ts: str) -> None:
        await self.db.run(_set_thread, key, channel, thread_ts)

    async def started(self, key: str, person: str, *, private: bool) -> None:
        """Record who started a person's conversation (once: the first word stays theirs)."""
        await self.db.run(_started, key, person, private)

    async def starts(self, keys: list[str]) -> dict[str, Start]:
        return await self.db.run(_starts, keys)


def _get(conn: sqlite3.Connection, key: str) -> Conversation:
    row = conn.execute(
        "SELECT key, session_id, channel, thread_ts FROM conversations WHERE key = ?", (key,)
    ).fetchone()
    return Conversation(*row) if row else Conversation(key, None, None, None)


def _by_thread(conn: sqlite3.Connection, channel: str, thread_ts: str) -> str | None:
    row = conn.execute(
        "SELECT key FROM conversations WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
    ).fetchone()
    return row[0] if row else None


def _upsert(conn: sqlite3.Connection, key: str, column: str, value: str) -> None:
    conn.execute(
        f"INSERT INTO conversations (key, {column}, created) VALUES (?, ?, ?)"
        f" ON CONFLICT (key) DO UPDATE SET {column} = excluded.{column}",
        (key, value, time.time()),
    )


def _set_thread(conn: sqlite3.Connection, key: str, channel: str, thread_ts: str) -> None:
    conn.execute(
        "INSERT INTO conversations (key, channel, thread_ts, created) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET channel = excluded.channel,"
        " thread_ts = excluded.thread_ts",
        (key, channel, thread_ts, time.time()),
    )


def _started(conn: sqlite3.Connection, key: str, person: str, private: bool) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO conversation_starts (key, person, private) VALUES (?, ?, ?)",
        (key, person, int(private)),
    )


def _starts(conn: sqlite3.Connection, keys: list[str]) -> dict[str, Start]:
    found: dict[str, Start] = {}
    for i in range(0, len(keys), 500):  # sqlite's limit on bound parameters
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for key, person, private in conn.execute(
            f"SELECT key, person, private FROM conversation_starts WHERE key IN ({marks})", chunk
        ):
            found[key] = Start(person, bool(private))
    return found
