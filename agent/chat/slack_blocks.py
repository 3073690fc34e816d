"""A card as Slack blocks, built and validated with slack_sdk's block models.

Slack rejects a whole post (`invalid_blocks`) when one field is over its
limit, so every field is cut to fit here, with a visible marker, and the
models' own validation runs before anything is sent: a long reason from the
model costs a truncated line, never the card.

The diff is a rich-text preformatted element: plain text Slack never parses as
mrkdwn, so a diff holding ``` (or *, _, <…>) shows as written and cannot end the
block early and pose as the card's own words.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    RichTextBlock,
    RichTextElementParts,
    RichTextPreformattedElement,
    SectionBlock,
)

from agent.chat.card import Card
from agent.chat.mrkdwn import to_mrkdwn

SECTION_CHARS = 3000  # Slack's limit on a section's text
CONTEXT_CHARS = 3000  # … and on a context element's
DIFF_CHARS = 3000  # a diff past this is cut: the card is for reading, the ledger has it all
TRUNCATED = "\n… (truncated)"


def card_blocks(card: Card) -> list[dict[str, Any]]:
    """The card's blocks as JSON, buttons while it is open, its outcome once decided."""
    blocks: list[Block] = [section(f"*{card.title}*\n{card.where}")]
    if card.reason:
        blocks.append(section(to_mrkdwn(f"Why: {card.reason}")))
    blocks.append(preformatted(fit(card.diff, DIFF_CHARS)))
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


def preformatted(text: str) -> RichTextBlock:
    """Text shown as a code block and never parsed: no mrkdwn, no mentions, no links."""
    part = RichTextElementParts.Text(text=text or " ")
    return RichTextBlock(elements=[RichTextPreformattedElement(elements=[part])])


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(text, SECTION_CHARS)))


def fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED
