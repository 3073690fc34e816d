"""The supervisor's side of the write gate.

Before a turn: a click, or an explicit yes from an allowlisted person in the
same conversation, becomes a confirmation record made with *this* turn's id —
a later turn than the proposal's — and the agent is told in a `[supervisor]`
line. After a turn: each new proposal gets a card (diff from the ledger), and
cards whose proposal changed state are updated. Every tool call is audited.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

from agent.chat.card import Card
from agent.db import Database
from agent.inbox import Item
from agent.outbox import Outbox
from agent.turns import TurnContext
from core.ledger import Ledger, LedgerError, Proposal

_MENTION = re.compile(r"<@[A-Z0-9]+>")


def is_confirmation(text: str, phrases: tuple[str, ...]) -> bool:
    """An explicit yes: the whole message is one of the phrases (case, mentions and
    trailing punctuation aside). "yes, but change X first" is not a yes."""
    words = _MENTION.sub(" ", text).strip().lower().rstrip("!.").strip()
    return words in {p.lower() for p in phrases}


class Gate:
    def __init__(
        self,
        ledger: Ledger,
        db: Database,
        outbox: Outbox,
        phrases: tuple[str, ...],
        allowed_users: frozenset[str],
    ) -> None:
        self.ledger = ledger
        self.db = db
        self.outbox = outbox
        self.phrases = phrases
        self.allowed_users = allowed_users

    async def record_turn(self, conversation: str, source: str, sender: str) -> tuple[str, int]:
        turn = await asyncio.to_thread(self.ledger.record_turn, conversation, source, sender)
        # Every turn opens its part of the trail, so the audit tells the story of quiet
        # turns too (an event the agent only diagnosed, a person's request).
        await asyncio.to_thread(
            self.ledger.audit,
            "turn",
            actor=sender,
            turn_id=turn.turn_id,
            detail={"seq": turn.seq, "source": source},
        )
        return turn.turn_id, turn.seq

    async def proposal_conversation(self, proposal_id: str) -> str | None:
        proposal = await asyncio.to_thread(self.ledger.proposal, proposal_id)
        return proposal.conversation if proposal else None

    async def before_turn(self, ctx: TurnContext) -> None:
        for item in ctx.items:
            # The allowlist was checked at intake; checked again here because this
            # is the line that turns words into a confirmation.
            if item.payload.get("user") not in self.allowed_users:
                continue
            if item.kind == "click":
                await self._decide(ctx, item, [item.payload["proposal"]], item.payload["action"])
            elif item.kind == "chat" and is_confirmation(item.payload["text"], self.phrases):
                latest = await asyncio.to_thread(
                    self.ledger.latest_proposing_turn, ctx.conversation
                )
                open_ids = [p.id for p in latest if p.status == "open"]
                await self._decide(ctx, item, open_ids, "approve")

    async def _decide(self, ctx: TurnContext, item: Item, ids: list[str], action: str) -> None:
        how = "button" if item.kind == "click" else "text"
        decide = self.ledger.confirm if action == "approve" else self.ledger.reject
        person = item.payload["user"]
        for proposal_id in ids:
            try:
                decision = await asyncio.to_thread(decide, proposal_id, person, ctx.turn_id, how)
            except LedgerError as exc:
                ctx.notes.append(
                    f"{action} of proposal {proposal_id} by <@{person}> refused: {exc}"
                )
                continue
            ctx.notes.append(decision.message.replace(person, f"<@{person}>") + f" ({how})")

    async def after_turn(self, ctx: TurnContext) -> None:
        for call in getattr(ctx.result, "tool_calls", None) or []:
            await asyncio.to_thread(
                self.ledger.audit,
                conversation=ctx.conversation,
                turn_id=ctx.turn_id,
                actor="agent",
                action="tool_call",
                detail={
                    "tool": call.tool,
                    "input": call.input,
                    "status": call.status,
                    "output": _short(call.output),
                },
            )
        for proposal in await asyncio.to_thread(self.ledger.proposals_of_turn, ctx.turn_id):
            card = Card.of(proposal, self.phrases)
            ts = await self.outbox.reply(ctx.conversation, card.text(), card=card)
            conv = await self.outbox.conversations.get(ctx.conversation)
            if ts and conv.channel:
                await self.db.run(_save_card, proposal.id, conv.channel, ts, proposal.status)
        await self.refresh_cards()

    async def refresh_cards(self) -> None:
        """Show each card's current outcome once its proposal left `open`."""
        for proposal_id, channel, ts, shown in await self.db.run(_open_cards):
            proposal = await asyncio.to_thread(self.ledger.proposal, proposal_id)
            if proposal is None or proposal.status == shown:
                continue
            card = Card.of(proposal, self.phrases, outcome=self._outcome(proposal))
            await self.outbox.update(channel, ts, card.text(), card)
            await self.db.run(_save_card, proposal_id, channel, ts, proposal.status)

    def _outcome(self, proposal: Proposal) -> str:
        decision = self.ledger.decision_of(proposal.id)
        who = self.outbox.mention(decision.person) if decision else "nobody"
        if proposal.status == "applied":
            return f"✅ Approved by {who} — applied {proposal.outcome or ''}".rstrip()
        if proposal.status == "rejected":
            return f"❌ Rejected by {who}"
        if decision and decision.decision == "approve":
            return f"👍 Approved by {who} — applying"
        return f"⌛ {proposal.status} {proposal.outcome or ''}".rstrip()


def _short(output: Any, limit: int = 2000) -> Any:
    text = output if isinstance(output, str) else repr(output)
    return text if len(text) <= limit else text[:limit] + "…"


def _save_card(
    conn: sqlite3.Connection, proposal_id: str, channel: str, ts: str, shown: str
) -> None:
    conn.execute(
        "INSERT INTO cards (proposal_id, channel, ts, shown) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (proposal_id) DO UPDATE SET shown = excluded.shown",
        (proposal_id, channel, ts, shown),
    )


def _open_cards(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    rows = conn.execute(
        "SELECT proposal_id, channel, ts, shown FROM cards"
        " WHERE shown NOT IN ('applied', 'rejected', 'expired')"
    )
    return [tuple(r) for r in rows]
