"""What the Matrix bridge must remember across restarts, in the state dir.

- the sync position (`next_batch`): a restart continues where the last sync that
  reached the inbox ended, so nothing is replayed and nothing sent meanwhile is lost;
- which event is which proposal's card, so a ✅ on it after a restart still approves;
- which rooms are direct chats (nio does not keep `m.direct`; the invite says so once);
- the device a password login made, so a restart reuses it instead of adding one.

One small sqlite file (WAL, synchronous=FULL, mode 600: it holds an access token).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    next_batch TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    event_id      TEXT PRIMARY KEY,
    room_id       TEXT NOT NULL,
    proposal_id   TEXT NOT NULL,
    thread_ts     TEXT,
    decided       INTEGER NOT NULL DEFAULT 0,
    bot_reactions TEXT NOT NULL DEFAULT '[]'   -- the ✅ ❌ the bot put there to click on
);
CREATE TABLE IF NOT EXISTS direct_rooms (
    room_id TEXT PRIMARY KEY,
    person  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS session (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    access_token TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class CardRecord:
    event_id: str
    room_id: str
    proposal_id: str
    thread_ts: str | None
    decided: bool
    bot_reactions: tuple[str, ...]


@dataclass(frozen=True)
class StoredSession:
    user_id: str
    device_id: str
    access_token: str


class MatrixStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self._conn = connect(path, check_same_thread=False)
        self._conn.executescript(SCHEMA)
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self._conn.close()

    async def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        async with self._lock:  # one statement at a time on the shared connection
            return await asyncio.to_thread(lambda: self._conn.execute(sql, args).fetchall())

    async def next_batch(self) -> str | None:
        rows = await self._run("SELECT next_batch FROM sync")
        return rows[0][0] if rows else None

    async def set_next_batch(self, token: str) -> None:
        await self._run(
            "INSERT INTO sync (id, next_batch) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET next_batch = excluded.next_batch",
            (token,),
        )

    async def add_card(
        self, event_id: str, room_id: str, proposal_id: str, thread_ts: str | None
    ) -> None:
        await self._run(
            "INSERT OR IGNORE INTO cards (event_id, room_id, proposal_id, thread_ts)"
            " VALUES (?, ?, ?, ?)",
            (event_id, room_id, proposal_id, thread_ts),
        )

    async def card(self, event_id: str) -> CardRecord | None:
        rows = await self._run("SELECT * FROM cards WHERE event_id = ?", (event_id,))
        if not rows:
            return None
        r = rows[0]
        return CardRecord(
            r["event_id"],
            r["room_id"],
            r["proposal_id"],
            r["thread_ts"],
            bool(r["decided"]),
            tuple(json.loads(r["bot_reactions"])),
        )

    async def set_bot_reactions(self, event_id: str, reactions: list[str]) -> None:
        await self._run(
            "UPDATE cards SET bot_reactions = ? WHERE event_id = ?",
            (json.dumps(reactions), event_id),
        )

    async def mark_decided(self, event_id: str) -> None:
        await self._run("UPDATE cards SET decided = 1 WHERE event_id = ?", (event_id,))

    async def add_direct_room(self, room_id: str, person: str) -> None:
        await self._run(
            "INSERT OR REPLACE INTO direct_rooms (room_id, person) VALUES (?, ?)", (room_id, person)
        )

    async def direct_rooms(self) -> set[str]:
        return {r[0] for r in await self._run("SELECT room_id FROM direct_rooms")}

    async def session(self, user_id: str) -> StoredSession | None:
        rows = await self._run("SELECT * FROM session WHERE user_id = ?", (user_id,))
        return StoredSession(*rows[0][1:]) if rows else None

    async def set_session(self, session: StoredSession) -> None:
        await self._run(
            "INSERT OR REPLACE INTO session (id, user_id, device_id, access_token)"
            " VALUES (1, ?, ?, ?)",
            (session.user_id, session.device_id, session.access_token),
        )
