"""What the bridge hears over real Socket Mode, and what it drops."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.chat.slack import SlackBridge
from tests.chat.conftest import card
from tests.chat.received import Received
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, BOT_USER_ID, FakeSlack

ALICE = "UALICE"


async def _drain(fake: FakeSlack, received: Received, count_before: int) -> None:
    """Wait until every envelope sent so far is acked, then prove the pipe is flowing.

    A sentinel DM sent after the acks must arrive as the next message: anything
    the bridge were going to deliver from earlier envelopes would be there first.
    """
    for envelope in list(fake.sent_envelopes):
        await fake.wait_for_ack(envelope["envelope_id"])
    await fake.send_message(ALICE, "sentinel")
    messages = await received.wait_messages(count_before + 1)
    assert messages[-1].text == "sentinel"


async def test_dm_is_delivered_with_is_dm(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    ts = await fake_slack.send_message(ALICE, "what's running?", channel="D0001")

    [message] = await received.wait_messages(1)
    assert message.channel == "D0001"
    assert message.ts == ts
    assert message.user == ALICE
    assert message.text == "what's running?"
    assert message.is_dm is True
    assert message.thread_ts is None


async def test_reply_in_a_channel_thread_carries_its_root(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    root = await bridge.post("C0001", "job resnet-50 crashed")
    reply_ts = await fake_slack.send_message(
        ALICE, "restart it", channel="C0001", channel_type="channel", thread_ts=root
    )

    [message] = await received.wait_messages(1)
    assert (message.ts, message.thread_ts, message.is_dm) == (reply_ts, root, False)
    assert message.thread_root == root


async def test_app_mention_is_delivered_once_without_the_bot_mention(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    await fake_slack.send_message(
        ALICE, f"<@{BOT_USER_ID}> what's running?", channel="C0001", channel_type="channel"
    )
    kinds = [e["payload"]["event"]["type"] for e in fake_slack.sent_envelopes]
    assert kinds == ["message", "app_mention"]  # Slack sends both for one post

    await _drain(fake_slack, received, count_before=1)
    assert [m.text for m in received.messages] == ["what's running?", "sentinel"]
    assert received.messages[0].channel == "C0001"
    assert received.messages[0].is_dm is False


async def test_mention_inside_a_thread_is_delivered_once(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    root = await bridge.post("C0001", "job started")
    await fake_slack.send_message(
        ALICE, f"<@{BOT_USER_ID}> status?", channel="C0001", channel_type="channel", thread_ts=root
    )

    await _drain(fake_slack, received, count_before=1)
    assert [(m.text, m.thread_ts) for m in received.messages[:1]] == [("status?", root)]


async def test_what_is_not_a_person_talking_to_the_bot_is_ignored(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    dm_ts = await fake_slack.send_message(ALICE, "original", channel="D0001")
    await received.wait_messages(1)

    await fake_slack.send_bot_message("deploy finished", channel="C0001", legacy=True)
    await fake_slack.send_bot_message("hi bot", channel="D0002", channel_type="im")
    await fake_slack.send_own_message("my own words", channel="D0001")
    await fake_slack.send_edit(ALICE, "D0001", dm_ts, "edited")
    await fake_slack.send_join(ALICE, channel="C0001")
    await fake_slack.send_message(ALICE, "chatter", channel="C0001", channel_type="channel")

    await _drain(fake_slack, received, count_before=1)
    assert [m.text for m in received.messages] == ["original", "sentinel"]


async def test_the_bots_own_posts_echoed_back_are_ignored(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    await bridge.post("D0001", "hello from the bot")
    # The fake echoes each post as a message event, as Slack does.
    await fake_slack.wait_for_post(lambda p: p.text == "hello from the bot")
    echo = await _wait_for_envelope(fake_slack, "hello from the bot")
    assert echo["payload"]["event"]["user"] == BOT_USER_ID

    await _drain(fake_slack, received, count_before=0)
    assert [m.text for m in received.messages] == ["sentinel"]


async def test_a_retried_envelope_is_delivered_once(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    await fake_slack.send_message(ALICE, "once please", channel="D0001")
    await received.wait_messages(1)
    first = fake_slack.sent_envelopes[-1]["envelope_id"]

    retry = await fake_slack.resend(first, reason="timeout")
    assert fake_slack.sent_envelopes[-1]["retry_attempt"] == 1

    await fake_slack.wait_for_ack(retry)  # a retry is acked, or Slack keeps retrying
    await _drain(fake_slack, received, count_before=1)
    assert [m.text for m in received.messages] == ["once please", "sentinel"]


async def test_every_envelope_is_acked(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    """Ignored events are acked too: an unacked envelope is retried by Slack."""
    ids = [
        await fake_slack.push_event({"type": "message", "subtype": "channel_topic", "ts": "1.1"})
    ]
    await fake_slack.send_bot_message("x")
    ids.append(fake_slack.sent_envelopes[-1]["envelope_id"])
    ids.append(await fake_slack.push_event({"type": "reaction_added", "user": ALICE}))
    for envelope_id in ids:
        await fake_slack.wait_for_ack(envelope_id)
    assert set(ids) <= set(fake_slack.acked)


async def test_messages_flow_again_after_slack_asks_for_a_reconnect(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    await fake_slack.request_reconnect()
    assert fake_slack.api_calls.count("apps.connections.open") == 2

    await fake_slack.send_message(ALICE, "still there?")
    [message] = await received.wait_messages(1)
    assert message.text == "still there?"


async def test_button_click_is_delivered(
    bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    root = await bridge.post("C0001", "job crashed")
    card_ts = await bridge.post("C0001", "Proposal P1", thread_ts=root, card=card("P1"))

    envelope_id = await fake_slack.click(
        ALICE, "approve", "P1", channel="C0001", message_ts=card_ts
    )

    [click] = await received.wait_clicks(1)
    assert (click.action_id, click.value, click.user) == ("approve", "P1", ALICE)
    assert (click.channel, click.message_ts, click.thread_ts) == ("C0001", card_ts, root)
    assert await fake_slack.wait_for_ack(envelope_id)


async def test_a_slow_service_does_not_delay_the_ack(
    fake_slack: FakeSlack, received: Received
) -> None:
    release = asyncio.Event()

    async def slow(message: object) -> None:
        await release.wait()

    slack = SlackBridge(BOT_TOKEN, APP_TOKEN, api_url=fake_slack.api_url)
    await slack.start(slow, received.on_click)
    try:
        await fake_slack.send_message(ALICE, "hi")
        await fake_slack.wait_for_ack(fake_slack.sent_envelopes[-1]["envelope_id"], timeout=3)
    finally:
        release.set()
        await slack.stop()


async def _wait_for_envelope(fake: FakeSlack, text: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            for envelope in fake.sent_envelopes:
                if envelope["payload"].get("event", {}).get("text") == text:
                    return envelope
            await asyncio.sleep(0.01)
