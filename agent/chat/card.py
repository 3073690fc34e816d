"""A proposal as people see it, in any chat: built from the ledger, never from the model's text.

Each bridge renders the same card its own way (Slack blocks with buttons, a
Matrix message to react to, a web form); the words, the diff and the outcome
come from here, so every chat shows the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.ledger import Proposal


@dataclass(frozen=True)
class Card:
    proposal_id: str
    title: str  # "Proposal P1a2b3c4d5e — git change"
    where: str  # "training · configs/train.yaml"
    reason: str  # why, for the approver
    diff: str  # what will change: the ledger's diff or summary
    expires: str  # "2026-11-27 08:00 UTC"
    replies: tuple[str, ...]  # the phrases that approve it in a reply
    outcome: str | None = None  # once decided: shown instead of the buttons

    @classmethod
    def of(cls, proposal: Proposal, phrases: tuple[str, ...], outcome: str | None = None) -> Card:
        payload = proposal.payload
        return cls(
            proposal_id=proposal.id,
            title=f"Proposal {proposal.id} — {proposal.kind.replace('_', ' ')}",
            where=" · ".join(str(payload[k]) for k in ("repo", "path", "job") if payload.get(k)),
            reason=str(payload.get("reason") or ""),
            diff=proposal.summary,
            expires=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(proposal.expires)),
            replies=phrases,
            outcome=outcome,
        )

    def safe(self, clean: Callable[[str], str]) -> Card:
        """The card with every field a model or a file could fill passed through `clean`
        (the sanitising of the chat that carries it)."""
        return replace(
            self,
            where=clean(self.where),
            reason=clean(self.reason),
            diff=clean(self.diff),
            outcome=clean(self.outcome) if self.outcome else None,
        )

    @property
    def reply_hint(self) -> str:
        return " / ".join(f'"{p}"' for p in self.replies[:4])

    def text(self) -> str:
        """The card as plain Markdown: a notification's fallback, or a chat without widgets."""
        lines = [f"**{self.title}**", self.where]
        if self.reason:
            lines.append(f"Why: {self.reason}")
        lines.append(f"```\n{self.diff}\n```")
        if self.outcome:
            lines.append(self.outcome)
        else:
            lines.append(f"Approve or reject, or reply {self.reply_hint} · expires {self.expires}")
        return "\n".join(line for line in lines if line)
