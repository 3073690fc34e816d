"""Cards after a turn: each new proposal is shown with the diff *from the ledger* (never
the model's text) and Approve/Reject; a card is redrawn once its proposal left `open`.

Which card shows which status is kept in the service database's `cards` table.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from agent.db import Database
from agent.outbox import Outbox
from agent.steps.base import TurnContext, TurnStep
from core.ledger import Ledger, Proposal

SECTION_LIMIT = 2900  # Slack caps a section's text at 3000 characters


def proposal_card(proposal: Proposal, phrases: tuple[str, ...]) -> tuple[str, list[dict[str, Any]]]:
    payload = proposal.payload
    where = " · ".join(str(payload[k]) for k in ("repo", "path", "job") if payload.get(k))
    title = f"Proposal {proposal.id} — {proposal.kind.replace('_', ' ')}"
    summary = proposal.summary
    if len(summary) > SECTION_LIMIT:
        summary = summary[:SECTION_LIMIT] + "\n… (truncated)"
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(proposal.expires))
    reply_hint = " / ".join(f'"{p}"' for p in phrases[:4])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{where}"}},
    ]
    if payload.get("reason"):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"Why: {payload['reason']}"}}
        )
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{summary}\n```"}},
        {
            "type": "actions",
            "block_id": f"proposal:{proposal.id}",
            "elements": [
                _button("Approve", "approve", proposal.id, "primary"),
                _button("Reject", "reject", proposal.id, "danger"),
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"or reply {reply_hint} · expires {expires}"}],
        },
    ]
    return f"{title}\n{where}\n{summary}", blocks


def outcome_card(
    proposal: Proposal, outcome: str, phrases: tuple[str, ...]
) -> tuple[str, list[dict[str, Any]]]:
    """The same card with its buttons replaced by what happened."""
    text, blocks = proposal_card(proposal, phrases)
    kept = [b for b in blocks if b["type"] == "section"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]})
    return f"{text}\n{outcome}", kept


def _button(label: str, action: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action,
        "value": value,
        "style": style,
    }


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
            text, blocks = proposal_card(proposal, self.phrases)
            ts = await self.outbox.reply(turn.conversation, text, blocks=blocks)
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
            text, blocks = outcome_card(proposal, outcome, self.phrases)
            await self.outbox.update(channel, ts, text, blocks)
            await self.db.run(_save_card, proposal_id, channel, ts, proposal.status)

    def _outcome(self, proposal: Proposal) -> str:
        decision = self.ledger.decision_of(proposal.id)
        who = f"<@{decision.person}>" if decision else "nobody"
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
