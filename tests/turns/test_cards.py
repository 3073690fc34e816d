"""Cards after a turn: one card per new proposal, drawn from the ledger; redrawn once
when its proposal is applied or rejected."""

from __future__ import annotations

from agent.engine.db import Database
from agent.engine.outbox import Outbox
from agent.engine.steps.base import TurnContext
from agent.engine.steps.cards import ProposalCards
from agent.opencode.client import TurnResult
from core.ledger import Ledger
from tests.chat.test_card_blocks import diffs
from tests.fakes.chat import RecordingChat
from tests.turns.conftest import ALICE, NOTIFY, PHRASES

CONV = "job:cust/pcb"
DIFF = "--- a/configs/train.yaml\n+++ b/configs/train.yaml\n-image_size: 1280\n+image_size: 640"


def turn(ledger: Ledger, source: str = "event", model_text: str = "") -> TurnContext:
    t = ledger.record_turn(CONV, source, ALICE if source != "event" else "cust/pcb")
    ctx = TurnContext(t.turn_id, t.seq, CONV, [], started=0.0)
    ctx.result = TurnResult(t.turn_id, "msg", model_text, (), None, "stop", 0, 0)
    return ctx


async def post_card(ledger: Ledger, cards: ProposalCards) -> str:
    proposing = turn(ledger, model_text="I changed image_size to 320 (trust me)")
    payload = {"repo": "train", "path": "configs/train.yaml", "reason": "OOM at 1280"}
    proposal = ledger.propose(proposing.turn_id, "git_change", payload, DIFF)
    await cards.after(proposing)
    return proposal.id


def cards_for(ledger: Ledger, db: Database, outbox: Outbox) -> ProposalCards:
    return ProposalCards(ledger, db, outbox, PHRASES)


async def test_a_new_proposal_gets_a_card_with_the_ledgers_diff(
    ledger: Ledger, db: Database, outbox: Outbox, chat: RecordingChat
) -> None:
    proposal_id = await post_card(ledger, cards_for(ledger, db, outbox))

    (card,) = chat.posts
    assert (card.kind, card.channel, card.thread_ts) == ("post", NOTIFY, None)
    sections = [b["text"]["text"] for b in card.blocks or [] if b["type"] == "section"]
    assert diffs(card.blocks or []) == [DIFF]  # preformatted, never parsed as mrkdwn
    assert "Why: OOM at 1280" in sections
    assert not any("320" in s for s in [card.text, *sections])  # never the model's words
    (actions,) = [b for b in card.blocks or [] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("approve", proposal_id),
        ("reject", proposal_id),
    ]


async def test_a_turn_without_proposals_posts_no_card(
    ledger: Ledger, db: Database, outbox: Outbox, chat: RecordingChat
) -> None:
    await cards_for(ledger, db, outbox).after(turn(ledger))
    assert chat.posts == []


async def test_the_card_shows_the_apply_once_the_proposal_is_applied(
    ledger: Ledger, db: Database, outbox: Outbox, chat: RecordingChat
) -> None:
    cards = cards_for(ledger, db, outbox)
    proposal_id = await post_card(ledger, cards)
    deciding = turn(ledger, "click")
    ledger.confirm(proposal_id, ALICE, deciding.turn_id, "button")
    ledger.close(proposal_id, "applied", "abc1234")
    await cards.after(deciding)
    await cards.after(turn(ledger, "chat"))  # shown once, not redrawn by every turn

    card = chat.posts[0]
    (update,) = chat.of_kind("update")
    assert (update.channel, update.ts) == (card.channel, card.ts)
    assert f"Approved by <@{ALICE}> — applied abc1234" in update.text
    assert not any(b["type"] == "actions" for b in update.blocks or [])


async def test_the_card_shows_a_rejection(
    ledger: Ledger, db: Database, outbox: Outbox, chat: RecordingChat
) -> None:
    cards = cards_for(ledger, db, outbox)
    proposal_id = await post_card(ledger, cards)
    deciding = turn(ledger, "click")
    ledger.reject(proposal_id, ALICE, deciding.turn_id, "button")
    await cards.after(deciding)

    (update,) = chat.of_kind("update")
    assert update.ts == chat.posts[0].ts
    assert f"Rejected by <@{ALICE}>" in update.text
    assert not any(b["type"] == "actions" for b in update.blocks or [])
