"""Cards after a turn: each new proposal is shown with the diff *from the ledger* (never
the model's text) and Approve/Reject; a card is redrawn once its proposal left `open`.
What a card says is `agent.chat.card.Card`; each chat bridge draws it its own way.

Which card shows which status is kept in the service database's `cards` table.
"""

from __future__ import annotations

import asyncio
import sqlite3

from agent.chat.card import Card
from agent.engine.db import Database
from agent.engine.outbox import Outbox
from agent.engine.steps.base import TurnContext, TurnStep
from core.ledger import Ledger, Proposal


class ProposalCards(TurnStep):
    def __init__(
        self, ledger: Ledger, db: Database, outbox: Outbox, phrases: tuple[str, ...]
    ) -> None:
        self.ledger = ledger
        self.db = db
        self.outbox = outbox
        self.phrases = phrases

    async def after(self, turn: TurnContext) -> None:
        for proposal in await asyncio.to_thread(self.ledger.proposals_of_turn, turn.turn_id):
            card = Card.of(proposal, self.phrases)
            ts = await self.outbox.reply(turn.conversation, card.text(), card=card)
            conv = await self.outbox.conversations.get(turn.conversation)
            if ts and conv.channel:
                await self.db.run(_save_card, proposal.id, conv.channel, ts, proposal.status)
        # Any turn may have moved a proposal on (an apply, a rejection, another process).
        await self.refresh()

    async def refresh(self) -> None:
        """Show each card's current outcome once its proposal left `open`."""
        for proposal_id, channel, ts, shown in await self.db.run(_shown_cards):
            proposal = await asyncio.to_thread(self.ledger.proposal, proposal_id)
            if proposal is None or proposal.status == shown:
                continue
            outcome = await asyncio.to_thread(self._outcome, proposal)
            card = Card.of(proposal, self.phrases, outcome=outcome)
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


def _save_card(
    conn: sqlite3.Connection, proposal_id: str, channel: str, ts: str, shown: str
) -> None:
    conn.execute(
        "INSERT INTO cards (proposal_id, channel, ts, shown) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (proposal_id) DO UPDATE SET shown = excluded.shown",
        (proposal_id, channel, ts, shown),
    )


def _shown_cards(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """Cards still showing a status that can change."""
    rows = conn.execute(
        "SELECT proposal_id, channel, ts, shown FROM cards"
        " WHERE shown NOT IN ('applied', 'rejected', 'expired')"
    )
    return [tuple(r) for r in rows]
