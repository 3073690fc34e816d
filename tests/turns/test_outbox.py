"""Where a conversation's messages go: its thread, started by its first message."""

from __future__ import annotations

import asyncio

import pytest

from agent.engine.conversations import Conversations
from agent.engine.outbox import Outbox
from tests.fakes.chat import RecordingChat
from tests.turns.conftest import NOTIFY


async def test_the_first_message_starts_a_thread_and_later_ones_go_in_it(
    outbox: Outbox, chat: RecordingChat, conversations: Conversations
) -> None:
    first = await outbox.reply("job:a", "Started a")
    await outbox.reply("job:a", "Epoch 3 of a")
    await outbox.reply("job:b", "Started b")

    root, reply, other = chat.posts
    assert (root.channel, root.thread_ts) == (NOTIFY, None)
    assert (reply.channel, reply.thread_ts) == (NOTIFY, first)
    assert (other.channel, other.thread_ts) == (NOTIFY, None)
    conv = await conversations.get("job:a")
    assert (conv.channel, conv.thread_ts) == (NOTIFY, first)


async def test_two_concurrent_first_messages_make_one_thread(
    outbox: Outbox, chat: RecordingChat
) -> None:
    await asyncio.gather(*(outbox.reply("job:a", f"message {i}") for i in range(3)))

    roots = [p for p in chat.posts if p.thread_ts is None]
    assert len(roots) == 1
    assert all(p.thread_ts == roots[0].ts for p in chat.posts if p is not roots[0])
    assert len(chat.posts) == 3


async def test_a_persons_conversation_is_answered_in_place(
    outbox: Outbox, chat: RecordingChat, conversations: Conversations
) -> None:
    await conversations.set_thread("chat:D1:1.5", "D1", "1.5")
    await outbox.reply("chat:D1:1.5", "Here is the queue")

    (post,) = chat.posts
    assert (post.channel, post.thread_ts) == ("D1", "1.5")


async def test_an_upload_goes_into_the_thread(
    outbox: Outbox, chat: RecordingChat, tmp_path
) -> None:
    plot = tmp_path / "loss.png"
    plot.write_bytes(b"\x89PNG")
    root = await outbox.reply("job:a", "Started a")
    await outbox.upload("job:a", plot, title="loss.png")

    upload = chat.of_kind("upload")[0]
    assert (upload.channel, upload.thread_ts, upload.path) == (NOTIFY, root, plot)


async def test_without_a_notify_channel_a_jobs_first_message_fails_naming_the_setting(
    chat: RecordingChat, conversations: Conversations
) -> None:
    outbox = Outbox(chat, conversations, None)
    with pytest.raises(RuntimeError, match="MLOPS_NOTIFY_CHANNEL"):
        await outbox.reply("job:a", "Started a")
    assert chat.posts == []


async def test_everything_posted_passes_the_sanitiser(outbox: Outbox, chat: RecordingChat) -> None:
    """Replies, notices and cards alike: no broadcast, mentions only of people on the list."""
    await outbox.reply("job:a", "<!channel> see <@UALICE> and <@UMALLORY>, @room")
    await outbox.notice("model down <!here>")

    texts = [p.text for p in chat.posts]
    assert all("<!" not in t and "@room" not in t for t in texts)
    assert "<@UALICE>" in texts[0] and "<@UMALLORY>" not in texts[0]
