"""The transcript: every message the service posted, card it drew and file it uploaded.

Written by the `Outbox` whatever chat carries the conversation (Slack, Matrix,
the web page, or none), so the web page can show every thread and its cards'
current outcome. People's side of a conversation is already in the inbox.
Each write tells the hub which conversation changed.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from agent.chat.card import Card
from agent.engine.db import Database
from agent.engine.hub import Hub

COLUMNS = "id, conversation, kind, channel, ts, text, card, path, created, updated"


@dataclass(frozen=True)
class Message:
    id: int
    conversation: str | None
    kind: str  # post | card | upload | notice
    channel: str | None
    ts: str | None
    text: str
    card_json: str | None
    path: str | None
    created: float
    updated: float | None

    @property
    def card(self) -> Card | None:
        if self.card_json is None:
            return None
        fields = json.loads(self.card_json)
        fields["replies"] = tuple(fields.get("replies") or ())
        return Card(**fields)


class Transcript:
    def __init__(self, db: Database, hub: Hub | None = None) -> None:
        self.db = db
        self.hub = hub or Hub()

    async def posted(
        self,
        conversation: str | None,
        channel: str | None,
        ts: str | None,
        text: str,
        card: Card | None = None,
    ) -> int:
        kind = "card" if card is not None else ("post" if conversation else "notice")
        row = (conversation, kind, channel, ts, text, _card_json(card), None)
        message_id = await self.db.run(_insert, row)
        self.hub.publish(conversation, "message")
        return message_id

    async def uploaded(
        self, conversation: str, channel: str | None, path: Path, title: str | None
    ) -> int:
        row = (conversation, "upload", channel, None, title or path.name, None, str(path))
        message_id = await self.db.run(_insert, row)
        self.hub.publish(conversation, "message")
        return message_id

    async def updated(self, channel: str, ts: str, text: str, card: Card | None) -> None:
        """A message replaced in place (a card showing its outcome)."""
        for conversation in await self.db.run(_update, channel, ts, text, _card_json(card)):
            self.hub.publish(conversation, "message")

    async def of_conversation(self, conversation: str) -> list[Message]:
        return await self.db.run(_of_conversation, conversation)

    async def message(self, message_id: int) -> Message | None:
        return await self.db.run(_one, message_id)

    async def notices(self, limit: int = 5) -> list[Message]:
        return await self.db.run(_notices, limit)


def _card_json(card: Card | None) -> str | None:
    return json.dumps(dataclasses.asdict(card), ensure_ascii=False) if card is not None else None


def _insert(conn: sqlite3.Connection, row: tuple[object, ...]) -> int:
    cur = conn.execute(
        "INSERT INTO messages (conversation, kind, channel, ts, text, card, path, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (*row, time.time()),
    )
    return int(cur.fetchone()[0])


def _update(
    conn: sqlite3.Connection, channel: str, ts: str, text: str, card: str | None
) -> list[str | None]:
    rows = conn.execute(
        "UPDATE messages SET text = ?, card = coalesce(?, card), updated = ?"
        " WHERE channel = ? AND ts = ? RETURNING conversation",
        (text, card, time.time(), channel, ts),
    ).fetchall()
    return [r[0] for r in rows]


def _of_conversation(conn: sqlite3.Connection, conversation: str) -> list[Message]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE conversation = ? ORDER BY id", (conversation,)
    )
    return [Message(*r) for r in rows]


def _one(conn: sqlite3.Connection, message_id: int) -> Message | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
    return Message(*row) if row else None


def _notices(conn: sqlite3.Connection, limit: int) -> list[Message]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE conversation IS NULL ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [Message(*r) for r in rows]
