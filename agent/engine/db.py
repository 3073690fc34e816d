"""The service's own sqlite database, driven from one thread.

sqlite serialises writers anyway; owning the connection in a single worker
thread keeps the event loop free and gives every caller the same ordering.
WAL with synchronous=FULL: a row the intake acknowledged survives SIGKILL and
power loss alike.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from core.sqlite import connect

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key   TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,          -- event | chat | click | tick
    conversation TEXT NOT NULL,
    payload      TEXT NOT NULL,          -- JSON
    state        TEXT NOT NULL DEFAULT 'ready',  -- ready | leased | done
    turn_id      TEXT,
    received     REAL NOT NULL,
    finished     REAL
);
CREATE INDEX IF NOT EXISTS inbox_ready ON inbox (state, conversation, id);
-- A conversation's items in order (the scheduler watcher reads a job's latest events).
CREATE INDEX IF NOT EXISTS inbox_conversation ON inbox (conversation, id);

CREATE TABLE IF NOT EXISTS conversations (
    key        TEXT PRIMARY KEY,         -- job:<name> | chat:<channel>:<ts> | sweep:<id>
    session_id TEXT,
    channel    TEXT,
    thread_ts  TEXT,
    created    REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_thread ON conversations (channel, thread_ts);

-- Who started a person's conversation (a chat:… key), and whether it is theirs alone
-- (a DM, a thread of the web page) or their channel's route's.
CREATE TABLE IF NOT EXISTS conversation_starts (
    key     TEXT PRIMARY KEY,
    person  TEXT NOT NULL,
    private INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS turns (
    turn_id      TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    source       TEXT NOT NULL,
    sender       TEXT NOT NULL,
    items        INTEGER NOT NULL,
    started      REAL NOT NULL,
    ended        REAL,
    outcome      TEXT,                   -- posted | silent | failed
    reason       TEXT,                   -- ok | model_error | timeout | interrupted | error ...
    detail       TEXT
);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns (conversation, seq);

-- Everything the service posted, whatever chat carried it (the web page reads it).
CREATE TABLE IF NOT EXISTS messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT,                   -- NULL: an operational notice
    kind         TEXT NOT NULL,          -- post | card | upload | notice
    channel      TEXT,                   -- where the chat carries it (NULL: no chat)
    ts           TEXT,                   -- its id in that chat
    text         TEXT NOT NULL,          -- Markdown, as sanitised for posting
    card         TEXT,                   -- JSON of the proposal card (kind card)
    path         TEXT,                   -- the uploaded file (kind upload)
    created      REAL NOT NULL,
    updated      REAL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation, id);
CREATE INDEX IF NOT EXISTS messages_chat ON messages (channel, ts);

CREATE TABLE IF NOT EXISTS cards (
    proposal_id TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    shown       TEXT NOT NULL            -- the proposal status the card shows
);
"""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path, check_same_thread=False)
        conn.executescript(SCHEMA)
        self._conn = conn

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        assert self._conn is not None, "database not opened"
        return fn(self._conn, *args)

    async def close(self) -> None:
        if self._conn is not None:
            await self.run(lambda conn: conn.close())
            self._conn = None
        self._pool.shutdown(wait=True)
