"""The one owner of a turn's records: opened in both stores at once, closed with its outcome.

The guard ledger (signed, read by the skills' gate) keeps what the gate needs:
the turn id, the conversation's sequence number, source and sender, and the
audit row that opens the turn's part of the trail. The service database keeps
the same turn with its timing and outcome, for operators and the metrics.
Both are written here and nowhere else, with one sender format.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Literal

from agent import metrics
from agent.engine.db import Database
from agent.engine.hub import Hub
from agent.engine.inbox import Item
from agent.engine.steps.base import TurnContext
from core.ledger import Ledger, Turn

Outcome = Literal["posted", "silent", "failed"]
DETAIL_LIMIT = 500

# A person's click or words outrank the events that came with them.
_SOURCE_RANK = ("click", "chat", "event")


def turn_source(items: list[Item]) -> str:
    kinds = {i.kind for i in items}
    return next((k for k in _SOURCE_RANK if k in kinds), "tick")


def turn_sender(items: list[Item]) -> str:
    """Who a turn came from: its items' people (user ids) or jobs, sorted and comma-joined."""
    return ",".join(sorted({str(i.payload.get("user") or i.payload.get("job")) for i in items}))


class TurnLog:
    def __init__(self, ledger: Ledger, db: Database, hub: Hub | None = None) -> None:
        self.ledger = ledger
        self.db = db
        self.hub = hub or Hub()  # told when a turn opens and closes (the page shows it working)

    async def open(self, conversation: str, items: list[Item]) -> TurnContext:
        """A fresh turn id and sequence number, recorded in the ledger and the service database."""
        started = time.monotonic()
        source, sender = turn_source(items), turn_sender(items)
        turn = await asyncio.to_thread(self._open_in_ledger, conversation, source, sender)
        await self.db.run(_insert, turn, len(items))
        self.hub.publish(conversation, "turn")
        return TurnContext(turn.turn_id, turn.seq, conversation, items, started)

    async def close(
        self, turn: TurnContext, outcome: Outcome, reason: str, detail: str | None = None
    ) -> None:
        metrics.TURNS.labels(outcome=outcome, reason=reason).inc()
        metrics.TURN_LATENCY.observe(time.monotonic() - turn.started)
        short = detail[:DETAIL_LIMIT] if detail is not None else None
        await self.db.run(_update, turn.turn_id, outcome, reason, short)
        self.hub.publish(turn.conversation, "turn")

    async def cut_short(self) -> list[tuple[str, str]]:
        """Turns opened and never closed, `(turn_id, conversation)`: at start, those a previous
        instance was running when it was stopped or killed."""
        return await self.db.run(_open_turns)

    async def close_cut_short(self, turn_id: str, conversation: str) -> None:
        metrics.TURNS.labels(outcome="failed", reason="interrupted").inc()
        detail = "cut short by a stop or a kill; its items were delivered again"
        await self.db.run(_update, turn_id, "failed", "interrupted", detail)
        self.hub.publish(conversation, "turn")

    def _open_in_ledger(self, conversation: str, source: str, sender: str) -> Turn:
        turn = self.ledger.record_turn(conversation, source, sender)
        # Every turn opens its part of the trail, so the audit tells the story of quiet
        # turns too (an event the agent only diagnosed, a person's request).
        self.ledger.audit(
            "turn", actor=sender, turn_id=turn.turn_id, detail={"seq": turn.seq, "source": source}
        )
        return turn


def _insert(conn: sqlite3.Connection, turn: Turn, n_items: int) -> None:
    conn.execute(
        "INSERT INTO turns (turn_id, conversation, seq, source, sender, items, started)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (turn.turn_id, turn.conversation, turn.seq, turn.source, turn.sender, n_items, time.time()),
    )


def _open_turns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT turn_id, conversation FROM turns WHERE ended IS NULL ORDER BY started"
    )
    return [(r[0], r[1]) for r in rows]


def _update(
    conn: sqlite3.Connection, turn_id: str, outcome: str, reason: str, detail: str | None
) -> None:
    conn.execute(
        "UPDATE turns SET ended = ?, outcome = ?, reason = ?, detail = ? WHERE turn_id = ?",
        (time.time(), outcome, reason, detail, turn_id),
    )
