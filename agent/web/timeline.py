"""Threads as the page shows them, read from the service database.

A thread merges two records in time order: what the service posted (the
transcript, `messages`) and what reached it (the inbox: events, people's
messages, clicks, scheduled ticks). Events and ticks in a row are one
collapsed group, showing exactly the text the model was given. The list of
threads says for each its kind, its last event, whether a turn is running,
open proposals, and whether anything arrived since this person last looked.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from agent.chat.card import Card
from agent.engine.db import Database
from agent.engine.inbox import Item
from agent.engine.render import render_event, render_item
from agent.engine.transcript import COLUMNS, Message
from agent.web.markup import short

WEB_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_seen (
    user         TEXT NOT NULL,
    conversation TEXT NOT NULL,
    seen         REAL NOT NULL,
    PRIMARY KEY (user, conversation)
);
"""
# A turn that never closed (the process died under it) stops counting as running.
RUNNING_TURN_S = 900.0
_STATES = {"crashed": "crashed", "failed": "crashed", "finished": "finished"}


@dataclass(frozen=True)
class ThreadSummary:
    key: str
    title: str
    kind: str  # job | sweep | chat
    last_active: float
    snippet: str  # the last message's Markdown
    state: str | None  # running | crashed | finished (jobs); None otherwise
    last_event: str | None  # "crashed · 14:02"
    last_event_at: float | None
    working: bool
    open_cards: int
    unread: bool


@dataclass
class Entry:
    """One row of a thread: a message of the service, a person's words or click, or a
    group of events/ticks the model was given (collapsed)."""

    kind: str  # agent | card | upload | person | click | inputs
    when: float
    message: Message | None = None
    item: Item | None = None
    inputs: list[tuple[str, str, float]] = field(default_factory=list)  # summary, text, when

    @property
    def card(self) -> Card | None:
        return self.message.card if self.message else None


@dataclass(frozen=True)
class Thread:
    summary: ThreadSummary
    entries: list[Entry]


def title_of(key: str, first_words: str | None) -> tuple[str, str]:
    """(title, kind) of a conversation key."""
    kind, _, rest = key.partition(":")
    if kind == "job":
        return rest, "job"
    if kind == "sweep":
        return f"sweep {rest}", "sweep"
    return (short(first_words, 60) if first_words else "conversation"), "chat"


def event_summary(payload: dict[str, Any]) -> str:
    words = [str(payload.get("type", "event"))]
    for key in ("epoch", "step", "trial"):
        if key in payload and not isinstance(payload[key], dict | list):
            words.append(f"{key} {payload[key]}")
    return " · ".join(words)


class Timeline:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.run(lambda conn: conn.executescript(WEB_SCHEMA))

    async def threads(self, user: str) -> list[ThreadSummary]:
        return await self.db.run(_threads, user, None)

    async def thread(self, user: str, key: str) -> Thread | None:
        found = await self.db.run(_threads, user, key)
        if not found:
            return None
        messages, items = await self.db.run(_thread_rows, key)
        return Thread(found[0], merge(messages, items))

    async def seen(self, user: str, key: str) -> None:
        await self.db.run(_seen, user, key)

    async def card_message(self, proposal_id: str) -> Message | None:
        """The transcript row of a proposal's card."""
        return await self.db.run(_card_message, proposal_id)

    async def cards(self, limit: int = 100) -> list[Message]:
        """Proposal cards, newest first."""
        return await self.db.run(_cards, limit)


def merge(messages: list[Message], items: list[Item]) -> list[Entry]:
    rows: list[Entry] = []
    for m in messages:
        kind = {"card": "card", "upload": "upload"}.get(m.kind, "agent")
        rows.append(Entry(kind, m.created, message=m))
    for item in items:
        if item.kind == "chat":
            rows.append(Entry("person", item.received, item=item))
        elif item.kind == "click":
            rows.append(Entry("click", item.received, item=item))
        else:
            rows.append(Entry("inputs", item.received, item=item))
    rows.sort(key=lambda e: e.when)
    merged: list[Entry] = []
    for row in rows:
        if row.kind == "inputs" and row.item is not None:
            seen = _input(row.item)
            if merged and merged[-1].kind == "inputs":
                merged[-1].inputs.append(seen)
                continue
            row.inputs.append(seen)
        merged.append(row)
    return merged


def _input(item: Item) -> tuple[str, str, float]:
    """(summary, what the model was given, when) of an event or a tick."""
    when = time.strftime("%H:%M:%SZ", time.gmtime(item.received))
    if item.kind == "event":
        return event_summary(item.payload), render_event(item.payload, when), item.received
    return item.kind, render_item(item), item.received


def _threads(conn: sqlite3.Connection, user: str, only: str | None) -> list[ThreadSummary]:
    sql = (
        "SELECT conversation, max(t) FROM ("
        " SELECT conversation, received AS t FROM inbox"
        " UNION ALL SELECT conversation, coalesce(updated, created) FROM messages"
        "  WHERE conversation IS NOT NULL)"
    )
    args: tuple[str, ...] = ()
    if only is not None:
        sql, args = sql + " WHERE conversation = ?", (only,)
    activity = conn.execute(sql + " GROUP BY conversation ORDER BY 2 DESC", args).fetchall()
    if not activity:
        return []
    last_event = {
        c: (json.loads(p), r)
        for c, p, r in conn.execute(
            "SELECT conversation, payload, received FROM inbox WHERE id IN"
            " (SELECT max(id) FROM inbox WHERE kind = 'event' GROUP BY conversation)"
        )
    }
    first_words = {
        c: json.loads(p).get("text", "")
        for c, p in conn.execute(
            "SELECT conversation, payload FROM inbox WHERE id IN"
            " (SELECT min(id) FROM inbox WHERE kind = 'chat' GROUP BY conversation)"
        )
    }
    last_message = dict(
        conn.execute(
            "SELECT conversation, text FROM messages WHERE id IN"
            " (SELECT max(id) FROM messages WHERE conversation IS NOT NULL"
            "  AND kind != 'upload' GROUP BY conversation)"
        ).fetchall()
    )
    working = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT conversation FROM turns WHERE ended IS NULL AND started > ?",
            (time.time() - RUNNING_TURN_S,),
        )
    }
    seen = dict(
        conn.execute("SELECT conversation, seen FROM web_seen WHERE user = ?", (user,)).fetchall()
    )
    # A card still waiting is one the page shows without an outcome.
    open_cards = dict(
        conn.execute(
            "SELECT conversation, count(*) FROM messages WHERE kind = 'card'"
            " AND json_extract(card, '$.outcome') IS NULL GROUP BY conversation"
        ).fetchall()
    )
    out = []
    for key, active in activity:
        title, kind = title_of(key, first_words.get(key))
        event = last_event.get(key)
        state = None
        if kind == "job" and event:
            state = _STATES.get(str(event[0].get("type")), "running")
        out.append(
            ThreadSummary(
                key=key,
                title=title,
                kind=kind,
                last_active=active,
                snippet=last_message.get(key) or first_words.get(key) or "",
                state=state,
                last_event=event_summary(event[0]) if event else None,
                last_event_at=event[1] if event else None,
                working=key in working,
                open_cards=open_cards.get(key, 0),
                unread=active > seen.get(key, 0.0),
            )
        )
    return out


def _thread_rows(conn: sqlite3.Connection, key: str) -> tuple[list[Message], list[Item]]:
    messages = [
        Message(*r)
        for r in conn.execute(
            f"SELECT {COLUMNS} FROM messages WHERE conversation = ? ORDER BY id", (key,)
        )
    ]
    items = [
        Item(r[0], r[1], r[2], json.loads(r[3]), r[4])
        for r in conn.execute(
            "SELECT id, kind, conversation, payload, received FROM inbox"
            " WHERE conversation = ? ORDER BY id",
            (key,),
        )
    ]
    return messages, items


def _seen(conn: sqlite3.Connection, user: str, key: str) -> None:
    conn.execute(
        "INSERT INTO web_seen (user, conversation, seen) VALUES (?, ?, ?)"
        " ON CONFLICT (user, conversation) DO UPDATE SET seen = excluded.seen",
        (user, key, time.time()),
    )


def _card_message(conn: sqlite3.Connection, proposal_id: str) -> Message | None:
    row = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE kind = 'card'"
        " AND json_extract(card, '$.proposal_id') = ? ORDER BY id DESC LIMIT 1",
        (proposal_id,),
    ).fetchone()
    return Message(*row) if row else None


def _cards(conn: sqlite3.Connection, limit: int) -> list[Message]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM messages WHERE kind = 'card' ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [Message(*r) for r in rows]
