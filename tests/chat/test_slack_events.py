"""Which Slack events are a person talking to the bot: one property per test.

The Socket Mode tests show the whole path; here each filter is proved on its
own, since in the full path bolt's own self-event filter and the other checks
overlap and could hide a missing one.
"""

from __future__ import annotations

from typing import Any

from agent.chat.base import ButtonClick
from agent.chat.slack import button_clicks, incoming_message

BOT = "UBOT"


def _dm(**changes: Any) -> dict[str, Any]:
    event = {
        "type": "message",
        "user": "UALICE",
        "text": "what's running?",
        "ts": "1700000000.000100",
        "channel": "D0001",
        "channel_type": "im",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def test_a_dm_is_a_message() -> None:
    message = incoming_message(_dm(), BOT)
    assert message is not None
    assert (message.user, message.text, message.is_dm, message.thread_ts) == (
        "UALICE",
        "what's running?",
        True,
        None,
    )


def test_a_message_with_a_bot_id_is_dropped() -> None:
    assert incoming_message(_dm(user="UOTHERBOT", bot_id="BOTHER"), BOT) is None


def test_the_bots_own_user_is_dropped() -> None:
    assert incoming_message(_dm(user=BOT), BOT) is None


def test_a_subtype_is_dropped() -> None:
    assert incoming_message(_dm(subtype="channel_join"), BOT) is None


def test_an_event_without_a_user_is_dropped() -> None:
    assert incoming_message(_dm(user=None), BOT) is None


def test_a_thread_broadcast_is_still_a_person_writing() -> None:
    event = _dm(subtype="thread_broadcast", channel="C0001", channel_type="channel")
    event["thread_ts"] = "1700000000.000001"
    assert incoming_message(event, BOT) is not None


def test_a_top_level_channel_message_is_not_addressed_to_the_bot() -> None:
    assert incoming_message(_dm(channel="C0001", channel_type="channel"), BOT) is None


def test_a_channel_thread_reply_is_delivered_with_its_root() -> None:
    root = "1700000000.000001"
    message = incoming_message(_dm(channel="C0001", channel_type="channel", thread_ts=root), BOT)
    assert message is not None
    assert (message.thread_ts, message.is_dm) == (root, False)


def test_a_thread_root_itself_is_not_a_reply() -> None:
    event = _dm(channel="C0001", channel_type="channel", thread_ts="1700000000.000100")
    assert incoming_message(event, BOT) is None


def test_an_app_mention_is_delivered_without_the_mention() -> None:
    event = _dm(type="app_mention", channel="C0001", text=f"<@{BOT}>  status?")
    del event["channel_type"]
    message = incoming_message(event, BOT)
    assert message is not None
    assert (message.text, message.is_dm) == ("status?", False)


def test_other_people_mentioned_are_kept() -> None:
    message = incoming_message(_dm(text="ask <@UBOB> about it"), BOT)
    assert message is not None
    assert message.text == "ask <@UBOB> about it"


def test_other_event_types_are_dropped() -> None:
    assert incoming_message(_dm(type="reaction_added"), BOT) is None


def test_a_button_click_is_read_from_block_actions() -> None:
    body = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "container": {
            "type": "message",
            "message_ts": "1700000000.000300",
            "channel_id": "C0001",
            "thread_ts": "1700000000.000001",
        },
        "message": {"ts": "1700000000.000300"},
        "actions": [
            {"type": "button", "action_id": "reject", "value": "P9", "action_ts": "1.2"},
            {"type": "static_select", "action_id": "pick", "action_ts": "1.3"},
        ],
    }
    assert button_clicks(body) == [
        ButtonClick(
            action_id="reject",
            value="P9",
            user="UALICE",
            channel="C0001",
            message_ts="1700000000.000300",
            thread_ts="1700000000.000001",
        )
    ]
