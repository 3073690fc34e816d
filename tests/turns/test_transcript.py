"""The transcript: every post, card, card update, upload and notice, whatever chat carried
it; threads people started on the web page carried by the page; and the hub told of each
change by the outbox, the inbox and the turn log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.chat.card import Card
from agent.engine.conversations import Conversations
from agent.engine.db import Database
from agent.engine.hub import Change, Hub
from agent.engine.inbox import Inbox
from agent.engine.outbox import Outbox
from agent.engine.transcript import Transcript
from agent.engine.turn_log import TurnLog
from agent.web import WEB_CHANNEL
from agent.web.bridge import WebBridge
from core.ledger import Ledger
from tests.fakes.chat import RecordingChat
from tests.turns.conftest import ALICE, NOTIFY


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def transcript(db: Database, hub: Hub) -> Transcript:
    return Transcript(db, hub)


def card(outcome: str | None = None) -> Card:
    return Card("P0123456789", "Proposal P0123456789 — git change", "training · a.yaml",
                "OOM", "-a: 1\n+a: 2", "2030-01-01 00:00 UTC", ("yes",), outcome)  # fmt: skip


def drain(queue: asyncio.Queue[Change | None]) -> list[tuple[str | None, str]]:
    out = []
    while not queue.empty():
        change = queue.get_nowait()
        assert change is not None
        out.append((change.conversation, change.what))
    return out


async def test_every_kind_of_message_is_in_the_transcript_with_its_chat_id(
    chat: RecordingChat, conversations: Conversations, transcript: Transcript, tmp_path: Path
) -> None:
    outbox = Outbox(chat, conversations, NOTIFY, transcript=transcript)
    root = await outbox.reply("job:a", "Crashed <!channel>")
    card_ts = await outbox.reply("job:a", "card fallback", card=card())
    assert card_ts is not None
    await outbox.update(NOTIFY, card_ts, "decided", card("✅ Approved by web:alice"))
    plot = tmp_path / "loss.png"
    plot.write_bytes(b"\x89PNG")
    await outbox.upload("job:a", plot, title="loss.png")
    await outbox.notice("model endpoint down")

    messages = await transcript.of_conversation("job:a")
    assert [(m.kind, m.channel, m.ts) for m in messages] == [
        ("post", NOTIFY, root),
        ("card", NOTIFY, card_ts),
        ("upload", NOTIFY, None),
    ]
    assert messages[0].text == "Crashed @\u2060channel"  # as sanitised for posting
    assert messages[1].text == "decided" and messages[1].updated is not None
    shown = messages[1].card
    assert shown is not None and shown.outcome == "✅ Approved by web:alice"
    assert shown.replies == ("yes",)
    assert messages[2].path == str(plot)
    (notice,) = await transcript.notices()
    assert (notice.kind, notice.conversation, notice.text) == (
        "notice",
        None,
        "model endpoint down",
    )


async def test_with_no_chat_the_transcript_still_has_every_message(
    conversations: Conversations, transcript: Transcript
) -> None:
    outbox = Outbox(None, conversations, None, transcript=transcript)
    assert await outbox.reply("job:a", "Started a") is None
    (message,) = await transcript.of_conversation("job:a")
    assert (message.text, message.channel, message.ts) == ("Started a", None, None)


async def test_a_thread_started_on_the_page_is_carried_by_the_page_beside_another_chat(
    chat: RecordingChat, conversations: Conversations, transcript: Transcript
) -> None:
    page = WebBridge()
    outbox = Outbox(chat, conversations, NOTIFY, transcript=transcript, page=page)
    await conversations.set_thread("chat:web:abc", WEB_CHANNEL, "abc")
    ts = await outbox.reply("chat:web:abc", "Three jobs are running")
    await outbox.reply("job:a", "Started a")  # a job still starts its thread in the chat

    assert [p.text for p in chat.posts] == ["Started a"]
    (message,) = await transcript.of_conversation("chat:web:abc")
    assert (message.channel, message.ts) == (WEB_CHANNEL, ts)


async def test_a_web_user_is_named_as_is_never_as_a_chat_mention(
    chat: RecordingChat, conversations: Conversations
) -> None:
    outbox = Outbox(chat, conversations, NOTIFY)
    assert outbox.mention("web:alice") == "web:alice"
    assert outbox.mention(ALICE) == f"<@{ALICE}>"


async def test_the_hub_hears_of_messages_items_and_turns(
    db: Database, conversations: Conversations, ledger: Ledger, hub: Hub, transcript: Transcript
) -> None:
    inbox = Inbox(db, hub)
    await inbox.start()
    try:
        with hub.subscribe() as changes:
            await inbox.put_event("w1", {"type": "crashed", "job": "a"})
            await inbox.put_event("w1", {"type": "crashed", "job": "a"})  # a replay: no news
            await inbox.put("chat", "C1:1.0", "chat:C1:1.0", {"user": ALICE, "text": "hi"})
            turn_log = TurnLog(ledger, db, hub)
            items = await inbox.lease("job:a")
            turn = await turn_log.open("job:a", items)
            await Outbox(None, conversations, None, transcript=transcript).reply("job:a", "ok")
            await turn_log.close(turn, "posted", "ok")
            assert drain(changes) == [
                ("job:a", "item"),
                ("chat:C1:1.0", "item"),
                ("job:a", "turn"),
                ("job:a", "message"),
                ("job:a", "turn"),
            ]
    finally:
        await inbox.stop()


async def test_a_slow_listener_loses_its_oldest_news_not_the_service_s_time() -> None:
    hub = Hub()
    with hub.subscribe() as changes:
        for i in range(300):
            hub.publish(f"job:{i}", "item")
        seen = drain(changes)
        assert len(seen) == 256 and seen[-1] == ("job:299", "item")
        hub.close()
        assert await changes.get() is None
    assert hub.listeners == 0
