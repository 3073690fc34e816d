"""One owner of a turn's records: the ledger row, its audit row and the service row
are written together, with one sender format; closing records outcome and timing."""

from __future__ import annotations

import sqlite3
from typing import Any

from agent.engine.db import Database
from agent.engine.inbox import Item
from agent.engine.turn_log import DETAIL_LIMIT, TurnLog, turn_sender, turn_source
from core.ledger import Ledger

CONV = "job:cust/pcb"


def item(kind: str, **payload: Any) -> Item:
    return Item(1, kind, CONV, payload, 0.0)


async def service_row(db: Database, turn_id: str) -> dict[str, Any]:
    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        cur = conn.execute("SELECT * FROM turns WHERE turn_id = ?", (turn_id,))
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))

    return await db.run(read)


async def test_opening_a_turn_writes_the_ledger_the_audit_and_the_service_row_alike(
    turn_log: TurnLog, ledger: Ledger, db: Database
) -> None:
    items = [item("event", job="cust/pcb"), item("chat", user="UBOB"), item("chat", user="UAL")]
    turn = await turn_log.open(CONV, items)

    signed = ledger.turn(turn.turn_id)
    assert signed is not None
    assert (signed.conversation, signed.seq, signed.source) == (CONV, 1, "chat")
    row = await service_row(db, turn.turn_id)
    assert (row["conversation"], row["seq"], row["source"], row["items"]) == (CONV, 1, "chat", 3)
    assert row["sender"] == signed.sender == "UAL,UBOB,cust/pcb"
    assert row["ended"] is None and row["outcome"] is None
    (audit,) = ledger.audit_rows(conversation=CONV)
    assert (audit.action, audit.actor, audit.turn_id) == ("turn", signed.sender, turn.turn_id)
    assert audit.detail == {"seq": 1, "source": "chat"}


async def test_turns_of_a_conversation_are_numbered_in_order(turn_log: TurnLog) -> None:
    first = await turn_log.open(CONV, [item("event", job="cust/pcb")])
    elsewhere = await turn_log.open("job:other", [item("event", job="other")])
    second = await turn_log.open(CONV, [item("event", job="cust/pcb")])
    assert (first.seq, elsewhere.seq, second.seq) == (1, 1, 2)
    assert len({first.turn_id, second.turn_id}) == 2 and len(first.turn_id) >= 32


async def test_closing_a_turn_records_outcome_reason_detail_and_end(
    turn_log: TurnLog, db: Database
) -> None:
    turn = await turn_log.open(CONV, [item("event", job="cust/pcb")])
    await turn_log.close(turn, "failed", "error", "x" * (DETAIL_LIMIT + 100))

    row = await service_row(db, turn.turn_id)
    assert (row["outcome"], row["reason"]) == ("failed", "error")
    assert row["detail"] == "x" * DETAIL_LIMIT
    assert row["ended"] >= row["started"]


def test_a_persons_words_or_click_outrank_the_events_beside_them() -> None:
    event, chat, click = item("event", job="j"), item("chat", user="U"), item("click", user="U")
    assert turn_source([event]) == "event"
    assert turn_source([event, chat]) == "chat"
    assert turn_source([chat, click, event]) == "click"
    assert turn_source([item("tick", text="check")]) == "tick"
    assert turn_sender([chat, click, event]) == "U,j"
