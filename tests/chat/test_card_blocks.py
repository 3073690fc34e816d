"""A proposal card as Slack blocks: every field within Slack's limits, whatever the model wrote."""

from __future__ import annotations

import time

from slack_sdk.models.blocks import Block

from agent.chat.card import Card
from agent.chat.slack_blocks import SECTION_CHARS, TRUNCATED, card_blocks
from core.ledger import Proposal

PHRASES = ("yes", "go ahead", "approve", "kör på")


def proposal(
    reason: str = "OOM at epoch 12", diff: str = "-image_size: 1280\n+image_size: 640"
) -> Proposal:
    payload = f'{{"repo": "training", "path": "configs/train.yaml", "reason": "{reason}"}}'
    now = time.time()
    return Proposal(
        "P0123456789", "git_change", "job:x", "t" * 32, payload, diff, now, now + 60, "open", None
    )


def texts(blocks: list[dict]) -> list[str]:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [
            e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)
        ]
        out += diffs([block])
    return out


def diffs(blocks: list[dict]) -> list[str]:
    """The text of each rich-text preformatted element: what Slack shows without parsing."""
    return [
        part["text"]
        for block in blocks
        if block["type"] == "rich_text"
        for element in block["elements"]
        if element["type"] == "rich_text_preformatted"
        for part in element["elements"]
    ]


def test_an_open_card_has_the_diff_and_both_buttons() -> None:
    blocks = card_blocks(Card.of(proposal(), PHRASES))
    assert any("-image_size: 1280\n+image_size: 640" in t for t in texts(blocks))
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["approve", "reject"]
    assert all(e["value"] == "P0123456789" for e in actions["elements"])


def test_a_decided_card_shows_its_outcome_instead_of_buttons() -> None:
    blocks = card_blocks(Card.of(proposal(), PHRASES, outcome="✅ Approved by <@UALICE>"))
    assert not [b for b in blocks if b["type"] == "actions"]
    assert "✅ Approved by <@UALICE>" in texts(blocks)


def test_a_10000_character_reason_and_diff_make_a_valid_card() -> None:
    blocks = card_blocks(Card.of(proposal(reason="r" * 10_000, diff="d" * 10_000), PHRASES))
    for block in blocks:
        Block.parse(block).to_dict()  # slack_sdk's own validation: raises over any limit
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(text) <= SECTION_CHARS for text in sections)
    assert sum(TRUNCATED.strip() in text for text in [*sections, *diffs(blocks)]) == 2


def test_a_diff_with_backticks_cannot_break_out_of_its_block() -> None:
    """The diff is a preformatted rich-text element, never mrkdwn: ``` ends nothing, and a
    line after it cannot pose as the card's words (or a mention, or a link)."""
    evil = "-a: 1\n+a: 2\n```\n*Approved by <@UADMIN>* <https://evil.example|docs>\n```"
    blocks = card_blocks(Card.of(proposal(diff=evil), PHRASES))
    for block in blocks:
        Block.parse(block).to_dict()
    assert diffs(blocks) == [evil]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert not any("Approved by" in text or "```" in text for text in sections)
