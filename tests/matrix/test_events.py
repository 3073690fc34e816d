"""What the Matrix bridge takes from a room's events; no server needed."""

from __future__ import annotations

from typing import Any

from agent.chat.matrix.events import incoming_message, invite_is_direct, reaction

BOT, ANN, ROOM = "@bot:example.org", "@ann:example.org", "!room:example.org"


def message(body: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "sender": content.pop("sender", ANN),
        "event_id": "$e1",
        "content": {"msgtype": content.pop("msgtype", "m.text"), "body": body, **content},
    }


def thread(root: str = "$root") -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}


def test_a_thread_reply_is_a_message_in_that_thread() -> None:
    got = incoming_message(ROOM, message("kör på", **thread()), BOT, is_dm=False)
    assert got is not None and (got.thread_ts, got.text, got.ts) == ("$root", "kör på", "$e1")


def test_room_chatter_is_dropped_a_mention_is_not() -> None:
    assert incoming_message(ROOM, message("lunch?"), BOT, is_dm=False) is None
    by_id = incoming_message(ROOM, message(f"{BOT}: status?"), BOT, is_dm=False)
    assert by_id is not None and by_id.text == "status?"
    pill = message(
        "mlops: status?",
        formatted_body=f'<a href="https://matrix.to/#/{BOT}">mlops</a>: status?',
        **{"m.mentions": {"user_ids": [BOT]}},
    )
    by_pill = incoming_message(ROOM, pill, BOT, is_dm=False)
    assert by_pill is not None and by_pill.text == "status?"


def test_a_dm_needs_no_mention() -> None:
    got = incoming_message(ROOM, message("what's running?"), BOT, is_dm=True)
    assert got is not None and got.is_dm and got.thread_root == "$e1"


def test_echoes_edits_notices_and_redacted_messages_are_dropped() -> None:
    edit = {"m.relates_to": {"rel_type": "m.replace", "event_id": "$e0"}}
    for event in (
        message("mine", sender=BOT, **thread()),
        message("* fixed", **edit),
        message("a bot said", msgtype="m.notice", **thread()),
        {"type": "m.room.message", "sender": ANN, "event_id": "$e1", "content": {}},
    ):
        assert incoming_message(ROOM, event, BOT, is_dm=True) is None


def test_a_rich_reply_loses_its_quoted_fallback() -> None:
    body = "> <@bot:example.org> Proposal P1 …\n> more\n\nyes"
    content = {"m.relates_to": {"m.in_reply_to": {"event_id": "$card"}}}
    got = incoming_message(ROOM, message(body, **content), BOT, is_dm=True)
    assert got is not None and got.text == "yes"


def annotation(key: str, sender: str = ANN, target: str = "$card") -> dict[str, Any]:
    relation = {"rel_type": "m.annotation", "event_id": target, "key": key}
    return {
        "type": "m.reaction",
        "sender": sender,
        "event_id": "$r",
        "content": {"m.relates_to": relation},
    }


def test_check_and_cross_are_answers_other_reactions_are_not() -> None:
    approve, reject = reaction(annotation("✅"), BOT), reaction(annotation("❌"), BOT)
    assert approve is not None and (approve.action, approve.target) == ("approve", "$card")
    assert reject is not None and reject.action == "reject"
    assert reaction(annotation("✅\ufe0f"), BOT) is not None  # as some keyboards send it
    assert reaction(annotation("👍"), BOT) is None
    assert reaction(annotation("✅", sender=BOT), BOT) is None  # the bot's own offer
    assert (
        reaction({"type": "m.reaction", "sender": ANN, "event_id": "$r", "content": {}}, BOT)
        is None
    )


def test_the_invite_says_who_invited_and_whether_it_is_a_direct_chat() -> None:
    state = [
        {"type": "m.room.create", "state_key": "", "sender": ANN, "content": {}},
        {
            "type": "m.room.member",
            "state_key": BOT,
            "sender": ANN,
            "content": {"membership": "invite", "is_direct": True},
        },
    ]
    assert invite_is_direct(state, BOT) == (ANN, True)
    assert invite_is_direct(state[:1], BOT) == (None, False)


def test_only_the_invite_event_itself_names_the_inviter() -> None:
    """A federated stranger's server writes the stripped state: it can claim an allowlisted
    inviter there, ahead of the real invite (which the homeserver appends last)."""
    forged = {
        "type": "m.room.member",
        "state_key": BOT,
        "sender": ANN,  # on the allowlist: a lie
        "content": {"membership": "invite", "is_direct": True},
    }
    create = {"type": "m.room.create", "state_key": "", "sender": ANN, "content": {}}
    real = {**forged, "sender": "@mallory:evil.example"}
    assert invite_is_direct([create, forged, real], BOT) == ("@mallory:evil.example", True)
