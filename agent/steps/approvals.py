"""Approvals before a turn: a person's click or explicit yes becomes a confirmation.

The confirmation is made with *this* turn's id — a later turn than the
proposal's — and the agent is told in a `[supervisor]` note who decided what.
The skill's gate checks it again before any write; this is where words become
a record, so the allowlist is checked here too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from agent.inbox import Item
from agent.render import person
from agent.steps.base import TurnContext, TurnStep
from core.ledger import Ledger, LedgerError

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
        approvers_for: Callable[[str], frozenset[str]] | None = None,
    ):
        """`approvers_for(conversation)`: who may decide that conversation's proposals (its
        route's approvers); without routes, everyone on the allowlist."""
        self.ledger = ledger
        self.phrases = phrases
        self.allowed_users = allowed_users
        self.approvers_for = approvers_for or (lambda _: allowed_users)

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
        if ids and user not in self.approvers_for(turn.conversation):
            # Checked again by the skill at apply time: a route's writes are its approvers'.
            turn.notes.append(
                f"{action} of proposal {', '.join(ids)} by {person(user)} refused: they may not"
                " decide this conversation's proposals (not an approver of its route)"
            )
            return
        for proposal_id in ids:
            try:
                decision = await asyncio.to_thread(decide, proposal_id, user, turn.turn_id, how)
            except LedgerError as exc:
                turn.notes.append(
                    f"{action} of proposal {proposal_id} by {person(user)} refused: {exc}"
                )
                continue
            turn.notes.append(decision.message.replace(user, person(user)) + f" ({how})")
