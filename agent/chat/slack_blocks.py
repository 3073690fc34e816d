"""A card as Slack blocks, built and validated with slack_sdk's block models.

Slack rejects a whole post (`invalid_blocks`) when one field is over its
limit, so every field is cut to fit here, with a visible marker, and the
models' own validation runs before anything is sent: a long reason from the
model costs a truncated line, never the card.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from agent.chat.card import Card
from agent.chat.mrkdwn import to_mrkdwn

SECTION_CHARS = 3000  # Slack's limit on a section's text
CONTEXT_CHARS = 3000  # … and on a context element's
TRUNCATED = "\n… (truncated)"
FENCE = "```"


def card_blocks(card: Card) -> list[dict[str, Any]]:
    """The card's blocks as JSON, buttons while it is open, its outcome once decided."""
    blocks: list[Block] = [section(f"*{card.title}*\n{card.where}")]
    if card.reason:
        blocks.append(section(to_mrkdwn(f"Why: {card.reason}")))
    inner = SECTION_CHARS - 2 * (len(FENCE) + 1)
    blocks.append(section(f"{FENCE}\n{fit(card.diff, inner)}\n{FENCE}"))
    if card.outcome is None:
        blocks.append(
            ActionsBlock(
                block_id=f"proposal:{card.proposal_id}",
                elements=[
                    ButtonElement(
                        text="Approve", action_id="approve", value=card.proposal_id, style="primary"
                    ),
                    ButtonElement(
                        text="Reject", action_id="reject", value=card.proposal_id, style="danger"
                    ),
                ],
            )
        )
        note = f"or reply {card.reply_hint} · expires {card.expires}"
    else:
        note = to_mrkdwn(card.outcome)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=fit(note, CONTEXT_CHARS))]))
    return [block.to_dict() for block in blocks]  # to_dict() validates every limit


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text, SECTION_CHARS)))


def fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED
