"""Approvals before a turn: a person's click or explicit yes becomes a confirmation.

The confirmation is made with *this* turn's id — a later turn than the
proposal's — and the agent is told in a `[supervisor]` note who decided what.
The skill's gate checks it again before any write; this is where words become
a record, so the allowlist and who may decide each proposal (`core.approvers`:
an approver of every route it involves) are checked here too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from agent.engine.inbox import Item
from agent.engine.render import person
from agent.engine.steps.base import TurnContext, TurnStep
from core.approvers import Deciders, deciders
from core.ledger import Ledger, LedgerError, Proposal, decision_refusal
from core.routes import Routes

_MENTION = re.compile(r"<@[A-Z0-9]+>")


def is_confirmation(text: str, phrases: tuple[str, ...]) -> bool:
    """An explicit yes: the whole message is one of the phrases (case, mentions and
    trailing punctuation aside). "yes, but change X first" is not a yes."""
    words = _MENTION.sub(" ", text).strip().lower().rstrip("!.").strip()
    return words in {p.lower() for p in phrases}


class Approvals(TurnStep):
    def __init__(
        self,
        ledger: Ledger,
        phrases: tuple[str, ...],
        allowed_users: frozenset[str],
        deciders_of: Callable[[Proposal], Deciders] | None = None,
    ):
        """`deciders_of(proposal)`: who may decide it (`Routing.deciders`); without routes,
        everyone on the allowlist."""
        self.ledger = ledger
        self.phrases = phrases
        self.allowed_users = allowed_users
        if deciders_of is None:
            alone = Routes.load(None, allowed_users=allowed_users, default_channel=None)
            deciders_of = lambda p: deciders(alone, p.payload, alone.default)  # noqa: E731
        self.deciders_of = deciders_of

    async def proposal_conversation(self, proposal_id: str) -> str | None:
        """Where a click on this proposal's card belongs (None: no such proposal)."""
        proposal = await asyncio.to_thread(self.ledger.proposal, proposal_id)
        return proposal.conversation if proposal else None

    async def before(self, turn: TurnContext) -> None:
        for item in turn.items:
            # The allowlist was checked at intake; checked again here because this
            # is the line that turns words into a confirmation.
            if item.payload.get("user") not in self.allowed_users:
                continue
            if item.kind == "click":
                await self._decide(turn, item, [item.payload["proposal"]], item.payload["action"])
            elif item.kind == "chat" and is_confirmation(item.payload["text"], self.phrases):
                latest = await asyncio.to_thread(
                    self.ledger.latest_proposing_turn, turn.conversation
                )
                open_ids = [p.id for p in latest if p.status == "open"]
                await self._decide(turn, item, open_ids, "approve")

    async def _decide(self, turn: TurnContext, item: Item, ids: list[str], action: str) -> None:
        how = "button" if item.kind == "click" else "text"
        decide = self.ledger.confirm if action == "approve" else self.ledger.reject
        user = item.payload["user"]
        for proposal_id in ids:
            if refusal := await asyncio.to_thread(self._refusal, proposal_id, user, action, turn):
                turn.notes.append(refusal)
                continue
            try:
                decision = await asyncio.to_thread(decide, proposal_id, user, turn.turn_id, how)
            except LedgerError as exc:
                turn.notes.append(
                    f"{action} of proposal {proposal_id} by {person(user)} refused: {exc}"
                )
                continue
            turn.notes.append(decision.message.replace(user, person(user)) + f" ({how})")

    def _refusal(self, proposal_id: str, user: str, action: str, turn: TurnContext) -> str | None:
        """Why `user` may not decide the proposal (None: they may). A write belongs to the
        routes it touches: checked again by the skill's gate at apply time."""
        proposal = self.ledger.proposal(proposal_id)
        if proposal is None:
            return None  # the ledger says "unknown proposal" itself
        who = self.deciders_of(proposal)
        # The one rule (`core.ledger.rule`): who here; where and when, as the ledger records it.
        if decision_refusal(proposal, user, deciders=who.people) is None:
            return None
        self.ledger.audit(
            f"proposal.{action}_refused",
            actor=user,
            turn_id=turn.turn_id,
            detail={"proposal": proposal_id, "routes": [r.name for r in who.routes]},
        )
        return (
            f"{action} of proposal {proposal_id} by {person(user)} refused: only"
            f" {who.describe(person)} may decide it"
        )
