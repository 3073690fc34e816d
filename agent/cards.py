"""Proposal cards: the diff *from the ledger* (never the model's text) with Approve/Reject."""

from __future__ import annotations

import time
from typing import Any

from core.ledger import Proposal

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
