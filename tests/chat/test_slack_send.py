"""What the bridge sends: posts, long replies, updates, uploads, and Slack's refusals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agent.chat.mrkdwn import MAX_CHARS
from agent.chat.slack import SlackBridge, SlackBridgeError
from agent.chat.slack_blocks import card_blocks
from tests.chat.conftest import card
from tests.chat.received import Received
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack


async def test_post_returns_the_ts_slack_gave(bridge: SlackBridge, fake_slack: FakeSlack) -> None:
    ts = await bridge.post("C0001", "job resnet-50 finished")

    [post] = fake_slack.posts("C0001")
    assert (post.kind, post.ts, post.text, post.thread_ts) == (
        "post",
        ts,
        "job resnet-50 finished",
        None,
    )


async def test_post_into_a_thread(bridge: SlackBridge, fake_slack: FakeSlack) -> None:
    root = await bridge.post("C0001", "job started")
    reply = await bridge.post("C0001", "epoch 5: loss 0.31", thread_ts=root)

    post = await fake_slack.wait_for_post(lambda p: p.ts == reply)
    assert post.thread_ts == root


async def test_markdown_is_converted_to_mrkdwn(bridge: SlackBridge, fake_slack: FakeSlack) -> None:
    await bridge.post("D0001", "**crashed** at step 1200, see [logs](http://logs.local/1)")

    [post] = fake_slack.posts("D0001")
    assert post.text == "*crashed* at step 1200, see <http://logs.local/1|logs>"


async def test_a_long_reply_is_split_in_order_in_the_same_thread(
    bridge: SlackBridge, fake_slack: FakeSlack
) -> None:
    root = await bridge.post("C0001", "job started")
    paragraphs = [f"paragraph {i}: " + "metric " * 60 for i in range(30)]  # ~13 kB

    first = await bridge.post("C0001", "\n\n".join(paragraphs), thread_ts=root)

    chunks = [p for p in fake_slack.posts("C0001") if p.thread_ts == root]
    assert len(chunks) >= 4
    assert chunks[0].ts == first
    assert all(len(c.text) <= MAX_CHARS for c in chunks)
    rejoined = "\n\n".join(c.text for c in chunks)
    assert rejoined == "\n\n".join(p.strip() for p in paragraphs)


async def test_a_card_is_one_message_with_its_blocks(
    bridge: SlackBridge, fake_slack: FakeSlack
) -> None:
    await bridge.post("C0001", "x" * (MAX_CHARS * 2), card=card("P1"))

    [post] = fake_slack.posts("C0001")
    assert post.blocks == card_blocks(card("P1"))
    assert len(post.text) <= MAX_CHARS


async def test_update_changes_text_and_blocks(bridge: SlackBridge, fake_slack: FakeSlack) -> None:
    ts = await bridge.post("C0001", "Proposal P1: pending", card=card("P1"))
    decided = card("P1", outcome="approved by <@UALICE>")

    await bridge.update("C0001", ts, "Proposal P1: **approved**", card=decided)

    [update] = [p for p in fake_slack.posts("C0001") if p.kind == "update"]
    assert (update.ts, update.text, update.blocks) == (
        ts,
        "Proposal P1: *approved*",
        card_blocks(decided),
    )
    assert not [b for b in update.blocks or [] if b["type"] == "actions"]


def test_a_slack_mention_is_the_user_token(bridge: SlackBridge) -> None:
    assert bridge.mention("UALICE") == "<@UALICE>"


async def test_upload_sends_the_files_bytes_into_the_thread(
    bridge: SlackBridge, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    root = await bridge.post("C0001", "loss curve follows")
    plot = tmp_path / "loss.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)

    await bridge.upload("C0001", plot, thread_ts=root, title="Loss, run 7")

    [upload] = [p for p in fake_slack.posts("C0001") if p.kind == "upload"]
    assert (upload.file_name, upload.title, upload.thread_ts) == ("loss.png", "Loss, run 7", root)
    assert upload.file_bytes == plot.read_bytes()
    assert fake_slack.api_calls[-2:] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_upload_of_a_missing_file_names_it_and_sends_nothing(
    bridge: SlackBridge, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    calls_before = list(fake_slack.api_calls)
    with pytest.raises(SlackBridgeError, match="nope.png: no such file"):
        await bridge.upload("C0001", tmp_path / "nope.png")
    assert fake_slack.api_calls == calls_before


async def test_slack_refusing_a_post_raises_with_slacks_error(
    bridge: SlackBridge, fake_slack: FakeSlack
) -> None:
    with pytest.raises(SlackBridgeError, match="chat.update failed: message_not_found"):
        await bridge.update("C0001", "123.456", "never posted")


async def test_a_bad_bot_token_fails_start_naming_the_variable(
    fake_slack: FakeSlack, received: Received
) -> None:
    slack = SlackBridge("xoxb-wrong", APP_TOKEN, api_url=fake_slack.api_url)
    with pytest.raises(SlackBridgeError, match="invalid_auth.*SLACK_BOT_TOKEN"):
        await slack.start(received.on_message, received.on_click)
    await slack.stop()


async def test_a_bad_app_token_fails_start_instead_of_retrying_forever(
    fake_slack: FakeSlack, received: Received
) -> None:
    slack = SlackBridge(BOT_TOKEN, "xapp-wrong", api_url=fake_slack.api_url)
    with pytest.raises(SlackBridgeError, match="apps.connections.open failed: invalid_auth"):
        await slack.start(received.on_message, received.on_click)
    await slack.stop()
    assert "apps.connections.open" in fake_slack.api_calls


def test_socket_mode_without_an_app_token_is_refused() -> None:
    with pytest.raises(SlackBridgeError, match="SLACK_APP_TOKEN"):
        SlackBridge(BOT_TOKEN, None)


def test_http_mode_without_a_signing_secret_is_refused() -> None:
    with pytest.raises(SlackBridgeError, match="SLACK_SIGNING_SECRET"):
        SlackBridge(BOT_TOKEN, mode="http")


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(SlackBridgeError, match="use 'socket' or 'http'"):
        SlackBridge(BOT_TOKEN, APP_TOKEN, mode="webhook")  # type: ignore[arg-type]


async def test_bot_user_id_comes_from_auth_test(bridge: SlackBridge) -> None:
    assert bridge.bot_user_id == "UBOT"


async def test_the_fake_refuses_blocks_slack_would_refuse(fake_slack: FakeSlack) -> None:
    """The double checks what Slack checks, so a card over a limit fails here as it would there."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        await client.chat_postMessage(channel="C0001", text="x", blocks=too_long)
    assert fake_slack.posts("C0001") == []


async def test_a_rate_limited_post_waits_as_told_and_is_posted_once(
    bridge: SlackBridge, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("chat.postMessage", times=2, retry_after_s=1)
    started = time.monotonic()

    ts = await bridge.post("C0001", "epoch 5: loss 0.31")

    [post] = fake_slack.posts("C0001")
    assert (post.ts, post.text) == (ts, "epoch 5: loss 0.31")
    assert fake_slack.api_calls.count("chat.postMessage") == 3
    assert time.monotonic() - started >= 2.0  # Retry-After: 1, twice


async def test_a_dropped_connection_is_retried(bridge: SlackBridge, fake_slack: FakeSlack) -> None:
    fake_slack.drop_connection("chat.postMessage")

    ts = await bridge.post("C0001", "job finished")

    [post] = fake_slack.posts("C0001")
    assert post.ts == ts
    assert fake_slack.api_calls.count("chat.postMessage") == 2
