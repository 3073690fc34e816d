"""The durable inbox: everything that may start a turn is persisted here first.

Rows move ready → leased (taken by a turn) → done (its turn finished). Leased
rows go back to ready when the service starts, so a crash re-delivers them:
at-least-once, nothing accepted is lost. Concurrent webhook inserts are
committed together (group commit): one fsync serves every request waiting.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.engine.db import Database
from agent.engine.hub import Hub
from core.sqlite import immediate


@dataclass(frozen=True)
class Item:
    id: int
    kind: str  # event | chat | click | tick
    conversation: str
    payload: dict[str, Any]
    received: float


def event_conversation(event: dict[str, Any]) -> str:
    """A job's events share one conversation; a sweep's trials share the sweep's."""
    labels = event.get("labels")
    if isinstance(labels, dict) and isinstance(labels.get("sweep"), str) and labels["sweep"]:
        return f"sweep:{labels['sweep']}"
    return f"job:{event['job']}"


class Inbox:
    def __init__(
        self, db: Database, hub: Hub | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.hub = hub or Hub()  # told of each new item (the web page redraws its thread)
        self.clock = clock  # an item's received time (the service's clock: core.clock)
        self._pending: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]]] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Return leased rows to ready (their turn died with the last process)."""
        self._pending = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_events(), name="inbox-writer")
        return await self.db.run(_reset_leases)

    async def stop(self) -> None:
        if self._writer:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def put_event(self, webhook_id: str, event: dict[str, Any]) -> tuple[int, bool]:
        """Persist a verified event; returns (row id, created). Replays return created=False."""
        assert self._pending is not None, "inbox not started"
        future: asyncio.Future[tuple[int, bool]] = asyncio.get_running_loop().create_future()
        await self._pending.put((webhook_id, event, future))
        return await future

    async def put(self, kind: str, dedupe_key: str, conversation: str, payload: dict[str, Any]):
        rows = [(f"{kind}:{dedupe_key}", kind, conversation, payload)]
        result = (await self.db.run(_insert, rows, self.clock()))[0]
        if result[1]:
            self.hub.publish(conversation, "item")
        return result

    async def _write_events(self) -> None:
        assert self._pending is not None
        while True:
            batch = [await self._pending.get()]
            while not self._pending.empty():
                batch.append(self._pending.get_nowait())
            rows = [(f"event:{wid}", "event", event_conversation(ev), ev) for wid, ev, _ in batch]
            try:
                results = await self.db.run(_insert, rows, self.clock())
            except Exception as exc:  # the requests fail with 5xx; nothing was acknowledged
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (*_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)
            for (_, _, conversation, _), (_, created) in zip(rows, results, strict=True):
                if created:
                    self.hub.publish(conversation, "item")

    async def ready_conversations(self, exclude: set[str]) -> list[str]:
        """Conversations with waiting items, oldest waiting first."""
        convs = await self.db.run(_ready_conversations)
        return [c for c in convs if c not in exclude]

    async def lease(self, conversation: str) -> list[Item]:
        """Take every ready item of a conversation, in arrival order."""
        return await self.db.run(_lease, conversation)

    async def release(self, items: list[Item]) -> None:
        await self.db.run(_set_state, [i.id for i in items], "ready", None)

    async def done(self, items: list[Item], turn_id: str) -> None:
        """Finished by `turn_id`: the turn that answered them, for tracing."""
        await self.db.run(_set_state, [i.id for i in items], "done", turn_id)

    async def depth(self) -> int:
        return await self.db.run(
            lambda c: c.execute("SELECT count(*) FROM inbox WHERE state != 'done'").fetchone()[0]
        )


def _insert(conn: sqlite3.Connection, rows: list[tuple[str, str, str, dict[str, Any]]], now: float):
    results: list[tuple[int, bool]] = []
    with immediate(conn):
        for key, kind, conversation, payload in rows:
            cur = conn.execute(
                "INSERT INTO inbox (dedupe_key, kind, conversation, payload, received)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                (key, kind, conversation, json.dumps(payload, ensure_ascii=False), now),
            )
            row = cur.fetchone()
            if row is not None:
                results.append((int(row[0]), True))
            else:
                existing = conn.execute("SELECT id FROM inbox WHERE dedupe_key = ?", (key,))
                results.append((int(existing.fetchone()[0]), False))
    return results


def _reset_leases(conn: sqlite3.Connection) -> int:
    return conn.execute("UPDATE inbox SET state = 'ready' WHERE state = 'leased'").rowcount


def _ready_conversations(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT conversation, min(id) AS first FROM inbox WHERE state = 'ready'"
        " GROUP BY conversation ORDER BY first"
    )
    return [r[0] for r in rows]


def _lease(conn: sqlite3.Connection, conversation: str) -> list[Item]:
    with immediate(conn):
        rows = conn.execute(
            "UPDATE inbox SET state = 'leased' WHERE state = 'ready'"
            " AND conversation = ? RETURNING id, kind, conversation, payload, received",
            (conversation,),
        ).fetchall()
    items = [Item(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]
    return sorted(items, key=lambda i: i.id)


def _set_state(conn: sqlite3.Connection, ids: list[int], state: str, turn_id: str | None) -> None:
    finished = time.time() if state == "done" else None
    with immediate(conn):
        conn.executemany(
            "UPDATE inbox SET state = ?, finished = ?, turn_id = ? WHERE id = ?",
            [(state, finished, turn_id, i) for i in ids],
        )
