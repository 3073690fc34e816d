"""The Matrix bridge against a real Synapse: what it sends, what it hands the service,
and what it remembers across a restart. The service behind it is a recorder here; the
whole service over Matrix is in test_service.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nio import SyncResponse

from agent.chat.base import ButtonClick
from agent.chat.card import Card
from agent.chat.matrix import MatrixBridge, MatrixBridgeError
from agent.chat.matrix.bridge import STORE_FILE, sync_filter
from agent.chat.matrix.encryption import NOTICE
from agent.chat.matrix.html import MAX_EVENT_BYTES
from agent.chat.matrix.session import new_client
from agent.chat.matrix.store import MatrixStore
from agent.cli.doctor import check_matrix
from agent.settings import Settings
from tests.chat.received import Received
from tests.matrix.conftest import NOTIFY_ALIAS, World
from tests.matrix.people import Event, MatrixPerson, by, edits_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

PNG = Path(__file__).resolve().parent / "pixel.png"
SYNC_TIMEOUT_MS = 5000


def make_bridge(world: World, state: Path, **extra: Any) -> MatrixBridge:
    values: dict[str, Any] = {
        "notify_room": NOTIFY_ALIAS,
        "state_dir": state,
        "access_token": world.bot.access_token,
        "allowed_users": world.allowed,
        "sync_timeout_ms": SYNC_TIMEOUT_MS,
    }
    values.update(extra)
    return MatrixBridge(world.synapse.url, world.bot.user_id, **values)


@pytest_asyncio.fixture(loop_scope="module")
async def running(world: World, tmp_path: Path) -> AsyncIterator[tuple[MatrixBridge, Received]]:
    bridge, got = make_bridge(world, tmp_path / "state"), Received()
    await bridge.start(got.on_message, got.on_click)
    try:
        yield bridge, got
    finally:
        await bridge.stop()


def card(proposal_id: str = "P0123456789", outcome: str | None = None) -> Card:
    return Card(
        proposal_id=proposal_id,
        title=f"Proposal {proposal_id} — git change",
        where="training · configs/train.yaml",
        reason="CUDA OOM at <1280> & more",
        diff="-image_size: 1280\n+image_size: 640",
        expires="2026-11-27 08:00 UTC",
        replies=("yes", "kör på"),
        outcome=outcome,
    )


# -- sending ------------------------------------------------------------------------------


async def test_a_post_is_html_with_the_markdown_as_body_and_mentions_only_people_allowed(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, _ = running
    room = bridge.notify_room_id
    text = bridge.safe(
        f"**Crashed** at epoch 3 — {world.ann.user_id}, see `loss <nan>`\n"
        f"log said: @room {world.mallory.user_id} <b>bold?</b>",
        world.allowed,
    )
    event_id = await bridge.post(room, text)
    event = await world.ann.event(room, event_id)
    content = event["content"]

    assert content["msgtype"] == "m.text" and content["body"] == text
    assert content["format"] == "org.matrix.custom.html"
    html = content["formatted_body"]
    assert "<strong>Crashed</strong>" in html and "<code>loss &lt;nan&gt;</code>" in html
    assert f'<a href="https://matrix.to/#/{world.ann.user_id}">{world.ann.user_id}</a>' in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html  # the model's HTML is shown, never rendered
    # Only Ann is mentioned: not the room, not the stranger named in a quoted log.
    assert content["m.mentions"] == {"user_ids": [world.ann.user_id]}
    assert "@room" not in content["body"]  # neutralised by the sanitiser before the bridge
    assert world.mallory.user_id in html and f"matrix.to/#/{world.mallory.user_id}" not in html


async def test_a_thread_reply_goes_into_the_thread(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, _ = running
    room = bridge.notify_room_id
    root = await bridge.post(room, "Started cust-a/weld")
    reply = await bridge.post(room, "Epoch 15/60", thread_ts=root)
    relation = (await world.ann.event(room, reply))["content"]["m.relates_to"]
    assert relation["rel_type"] == "m.thread" and relation["event_id"] == root


async def test_a_long_message_is_split_into_events_matrix_accepts(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, _ = running
    room = bridge.notify_room_id
    paragraphs = [f"paragraph {i}: " + "ÅÄÖ ünïcödé & <tags> " * 60 for i in range(60)]
    first = await bridge.post(room, "\n\n".join(paragraphs))
    events = await world.ann.events(room)
    start = next(i for i, e in enumerate(events) if e["event_id"] == first)
    posted = [e for e in events[start:] if e["sender"] == bridge.user_id]
    bodies = "\n\n".join(e["content"]["body"] for e in posted)
    assert len(posted) > 1
    assert all(len(json.dumps(e["content"]).encode()) < MAX_EVENT_BYTES for e in posted)
    assert bodies.count("paragraph ") == 60 and "paragraph 59:" in posted[-1]["content"]["body"]


async def test_a_card_shows_the_diff_how_to_answer_and_offers_the_two_reactions(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, _ = running
    room = bridge.notify_room_id
    root = await bridge.post(room, "Crashed: cust-b/pcb")
    event_id = await bridge.post(room, "fallback", thread_ts=root, card=card())
    content = (await world.ann.event(room, event_id))["content"]

    assert content["m.relates_to"]["event_id"] == root
    html = content["formatted_body"]
    assert (
        '<pre><code class="language-diff">-image_size: 1280\n+image_size: 640</code></pre>' in html
    )
    assert "CUDA OOM at &lt;1280&gt; &amp; more" in html
    assert 'React ✅ to approve, ❌ to reject, or reply "yes" / "kör på"' in content["body"]
    assert content["m.mentions"] == {}
    reactions = await world.ann.wait_for(
        room, lambda e: e["type"] == "m.reaction" and e["content"]["m.relates_to"]["key"] == "❌"
    )
    assert reactions["sender"] == bridge.user_id


async def test_a_decided_card_is_edited_and_loses_the_bot_s_reactions(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, got = running
    room = bridge.notify_room_id
    event_id = await bridge.post(room, "fallback", card=card("P1111111111"))
    decided = card("P1111111111", outcome=f"✅ Approved by {world.ann.user_id} — applied abc123")
    await bridge.update(room, event_id, "fallback", card=decided)

    edit = await world.ann.wait_for(room, edits_of(event_id))
    new = edit["content"]["m.new_content"]
    assert "Approved by" in new["body"] and "React ✅" not in new["body"]
    assert f'href="https://matrix.to/#/{world.ann.user_id}"' in new["formatted_body"]
    assert new["m.mentions"] == {"user_ids": [world.ann.user_id]}
    assert edit["content"]["m.mentions"] == {}  # the edit itself pings nobody
    bots = [
        e
        for e in await world.ann.events(room)
        if e["type"] == "m.reaction"
        and e.get("sender") == bridge.user_id
        and (e["content"].get("m.relates_to") or {}).get("event_id") == event_id
    ]
    assert bots == []  # redacted: their content is gone

    # A ✅ on a decided card reaches nobody.
    await world.ann.react(room, event_id, "✅")
    await got.settle()
    assert got.clicks == []


async def test_a_plot_is_an_m_image_in_the_thread_with_its_size(
    world: World, running: tuple[MatrixBridge, Received], tmp_path: Path
) -> None:
    bridge, _ = running
    room = bridge.notify_room_id
    root = await bridge.post(room, "val_loss curve")
    await bridge.upload(room, PNG, thread_ts=root, title="val_loss.png")
    image = await world.ann.wait_for(room, by(bridge.user_id, thread=root, msgtype="m.image"))
    content = image["content"]
    assert content["body"] == "val_loss.png"
    assert content["info"] == {
        "mimetype": "image/png",
        "size": PNG.stat().st_size,
        "w": 1,
        "h": 1,
    }
    assert await world.ann.download(content["url"]) == PNG.read_bytes()
    with pytest.raises(MatrixBridgeError, match="no such file"):
        await bridge.upload(room, tmp_path / "missing.png", thread_ts=root)


async def test_a_rate_limit_is_waited_out_not_slept_through_silently(
    world: World, tmp_path: Path
) -> None:
    """The homeserver answers 429 to a quick burst; every post still lands, soon."""
    throttled = await asyncio.to_thread(world.synapse.register, "throttled-bot")
    await world.ann.invite(world.notify_room, throttled.user_id)
    async with httpx.AsyncClient(base_url=world.synapse.url) as admin:
        r = await admin.post(
            f"/_synapse/admin/v1/users/{throttled.user_id}/override_ratelimit",
            json={"messages_per_second": 2, "burst_count": 1},
            headers={"Authorization": f"Bearer {world.admin.user.access_token}"},
        )
        r.raise_for_status()
    bridge = MatrixBridge(
        world.synapse.url,
        throttled.user_id,
        notify_room=world.notify_room,
        state_dir=tmp_path,
        access_token=throttled.access_token,
    )
    await bridge.connect()
    try:
        t0 = time.monotonic()
        ids = [await bridge.post(world.notify_room, f"burst {i}") for i in range(5)]
        elapsed = time.monotonic() - t0
    finally:
        await bridge.stop()
    assert len(set(ids)) == 5
    assert 1.0 < elapsed < 20.0  # waited the homeserver's retry_after, not minutes


# -- receiving ----------------------------------------------------------------------------


async def test_thread_replies_and_mentions_reach_the_service_chatter_edits_and_echoes_do_not(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, got = running
    room = bridge.notify_room_id
    root = await bridge.post(room, "Crashed: cust-b/pcb")
    await world.ann.say(room, "lunch anyone?")  # chatter: not for the bot
    reply = await world.ann.say(room, "fix the image size and requeue", thread=root)
    await world.ann.edit(room, reply, "fix the image size please")  # an edit: not a new message
    mention = await world.bob.say(
        room, f"{bridge.user_id}: what's running?", mentions=(bridge.user_id,)
    )
    await world.mallory.say(room, "yes", thread=root)  # delivered: the allowlist is the service's
    await got.wait(messages=3)
    await got.settle()

    assert [(m.user, m.text, m.thread_ts) for m in got.messages] == [
        (world.ann.user_id, "fix the image size and requeue", root),
        (world.bob.user_id, "what's running?", None),
        (world.mallory.user_id, "yes", root),
    ]
    assert got.messages[0].ts == reply and got.messages[1].ts == mention
    assert all(m.channel == room and not m.is_dm for m in got.messages)


async def test_a_check_on_the_card_is_a_click_on_other_messages_or_taken_back_nothing(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, got = running
    room = bridge.notify_room_id
    root = await bridge.post(room, "Crashed: cust-b/pcb")
    card_id = await bridge.post(room, "fallback", thread_ts=root, card=card("P2222222222"))

    await world.ann.react(room, root, "✅")  # on another message
    await world.ann.react(room, card_id, "👍")  # not an answer
    taken_back = await world.bob.react(room, card_id, "❌")
    await got.wait(clicks=1)
    # Taken back once clicked: a removal is a redaction, and a click is not undone. (Taken
    # back before the bridge read it, it is no click: the tests below.)
    await world.bob.redact(room, taken_back)
    await world.mallory.react(room, card_id, "✅️")  # with a variation selector, by a stranger
    await got.wait(clicks=2)
    await got.settle()

    assert [(c.action_id, c.value, c.user, c.message_ts) for c in got.clicks] == [
        ("reject", "P2222222222", world.bob.user_id, card_id),
        ("approve", "P2222222222", world.mallory.user_id, card_id),
    ]
    assert got.clicks[0].thread_ts == root and got.clicks[0].channel == room


async def test_a_reaction_taken_back_while_the_bridge_was_down_approves_nothing(
    world: World, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    bridge, got = make_bridge(world, state), Received()
    await bridge.start(got.on_message, got.on_click)
    room = bridge.notify_room_id
    card_id = await bridge.post(room, "fallback", card=card("P3333333333"))
    await bridge.stop()

    reaction = await world.ann.react(room, card_id, "✅")
    await world.ann.redact(room, reaction)
    later = await world.bob.react(room, card_id, "✅")  # after a restart, the card is still known

    bridge = make_bridge(world, state)
    await bridge.start(got.on_message, got.on_click)
    try:
        await got.wait(clicks=1)
        await got.settle()
    finally:
        await bridge.stop()
    assert [(c.user, c.message_ts) for c in got.clicks] == [(world.bob.user_id, card_id)]
    assert later != reaction


async def card_then_down(world: World, state: Path, proposal_id: str, **extra: Any) -> str:
    """A bridge on `state` posts a card and stops; returns the card's event id."""
    bridge = make_bridge(world, state, **extra)
    await bridge.start(Received().on_message, Received().on_click)
    card_id = await bridge.post(bridge.notify_room_id, "fallback", card=card(proposal_id))
    await bridge.stop()
    return card_id


async def clicks_after_restart(world: World, state: Path, **extra: Any) -> list[ButtonClick]:
    """The clicks a bridge started again on `state` makes while catching up (at least one)."""
    bridge, got = make_bridge(world, state, **extra), Received()
    await bridge.start(got.on_message, got.on_click)
    try:
        await got.wait(clicks=1)
        await got.settle()
    finally:
        await bridge.stop()
    return got.clicks


async def sync_ahead(world: World, state: Path, until: str, timeline_limit: int = 50) -> Event:
    """Make, as the bridge on `state` will at its next start, the syncs from its stored
    position on, until one hands over event `until`; returns that event as handed over.

    Synapse keeps each sync answer for two minutes and gives it again to the same request
    (same device, position, filter and timeout): that is how a retry after a dropped
    connection, or a restart after a stop that cut a long poll, is answered. The bridge's
    next start is handed these answers as they were computed now."""
    store = MatrixStore(state / STORE_FILE)
    since = await store.next_batch()
    store.close()
    client = new_client(world.synapse.url, world.bot.user_id)
    client.access_token = world.bot.access_token
    try:
        async with asyncio.timeout(60):
            while True:
                response = await client.sync(
                    timeout=SYNC_TIMEOUT_MS, since=since, sync_filter=sync_filter(timeline_limit)
                )
                assert isinstance(response, SyncResponse), response
                for joined in response.rooms.join.values():
                    for event in joined.timeline.events:
                        if event.event_id == until:
                            return dict(event.source)
                since = response.next_batch
    finally:
        await client.close()


async def test_a_reaction_handed_over_before_its_redaction_approves_nothing(
    world: World, tmp_path: Path
) -> None:
    """After a restart Synapse may hand over the ✅ as it was before it was taken back (an
    answer it kept), and the redaction only in the next batch."""
    state, room = tmp_path / "state", world.notify_room
    card_id = await card_then_down(world, state, "P4444444444")

    reaction = await world.ann.react(room, card_id, "✅")
    await sync_ahead(world, state, until=reaction)
    await world.ann.redact(room, reaction)
    await world.bob.react(room, card_id, "✅")
    # The ordering really is the one under test: the kept batch still shows the ✅ whole.
    handed = await sync_ahead(world, state, until=reaction)
    assert handed["content"]["m.relates_to"]["key"] == "✅"
    assert "redacted_because" not in handed.get("unsigned", {})

    clicks = await clicks_after_restart(world, state)
    assert [(c.user, c.message_ts) for c in clicks] == [(world.bob.user_id, card_id)]


async def test_a_reaction_taken_back_in_a_timeline_cut_short_approves_nothing(
    world: World, tmp_path: Path
) -> None:
    """Down long enough for the timeline to be cut short: the ✅ is in the part filled back
    in from /messages, its redaction in the part the sync hands over."""
    state, room = tmp_path / "state", world.notify_room
    card_id = await card_then_down(world, state, "P5555555555", timeline_limit=2)
    # Whatever the long poll the stop cut still answers comes before; the rest is new.
    await sync_ahead(world, state, await world.bob.say(room, "chatter"), timeline_limit=2)

    reaction = await world.ann.react(room, card_id, "✅")
    for i in range(4):
        await world.bob.say(room, f"chatter {i}")
    await world.ann.redact(room, reaction)
    await world.bob.react(room, card_id, "❌")

    clicks = await clicks_after_restart(world, state, timeline_limit=2)
    assert [(c.action_id, c.user) for c in clicks] == [("reject", world.bob.user_id)]


async def test_a_restart_replays_nothing_and_loses_nothing_even_past_the_timeline_limit(
    world: World, tmp_path: Path
) -> None:
    room, state = world.notify_room, tmp_path / "state"
    root = await world.ann.say(room, "before the first start")
    history = await world.ann.say(room, "old news", thread=root)

    bridge, got = make_bridge(world, state, timeline_limit=2), Received()
    await bridge.start(got.on_message, got.on_click)
    first = await world.ann.say(room, "while up", thread=root)
    await got.wait(messages=1)
    await bridge.stop()

    sent = [await world.bob.say(room, f"while down {i}", thread=root) for i in range(7)]
    bridge = make_bridge(world, state, timeline_limit=2)
    await bridge.start(got.on_message, got.on_click)
    try:
        await got.wait(messages=8)
        await got.settle()
    finally:
        await bridge.stop()
    ids = [m.ts for m in got.messages]
    assert history not in ids  # the first start skipped history
    assert ids == [first, *sent]  # each once, in order, the cut-off ones fetched back


async def test_dm_invites_from_allowed_people_are_joined_strangers_declined(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, got = running
    dm = await world.ann.create_room(invite=(bridge.user_id,), direct=True)
    stranger = await world.mallory.create_room(invite=(bridge.user_id,), direct=True)

    async def membership(person: Any, room: str, want: str) -> None:
        async with asyncio.timeout(30):
            while (await person.members(room)).get(bridge.user_id) != want:
                await asyncio.sleep(0.1)

    await membership(world.ann, dm, "join")
    await membership(world.mallory, stranger, "leave")
    asked = await world.ann.say(dm, "what's running?")  # a DM needs no mention
    await got.wait(messages=1)
    (message,) = got.messages
    assert (message.channel, message.ts, message.is_dm, message.text) == (
        dm,
        asked,
        True,
        "what's running?",
    )
    assert message.thread_root == asked


async def test_an_encrypted_room_gets_one_notice_and_never_the_message(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    """A route's room, a DM, a room that turns encryption on later: the bridge keeps no keys,
    so nothing of a conversation is posted in the clear there; one notice says why."""
    bridge, _ = running
    route_room = await world.ann.create_room(invite=(bridge.user_id,))
    await world.ann.enable_encryption(route_room)
    await bridge._join(route_room)  # as a route's room is joined, once invited
    first = await bridge.post(route_room, "Crashed: customer-a/weld (secret-ish detail)")
    again = await bridge.post(route_room, "Epoch 3", thread_ts=first, card=card())
    await bridge.upload(route_room, PNG, thread_ts=first)
    assert again == first
    said = [e for e in await world.ann.events(route_room) if e["sender"] == bridge.user_id]
    bodies = [e["content"].get("body") for e in said if e["type"] == "m.room.message"]
    assert bodies == [NOTICE] and said[-1]["content"]["msgtype"] == "m.notice"

    # A room that was fine and turns encryption on: seen in the sync, posting stops.
    later = await world.ann.create_room(invite=(bridge.user_id,))
    await bridge._join(later)
    await bridge.post(later, "Started customer-a/seam")
    await world.ann.enable_encryption(later)
    await world.ann.say(later, f"{bridge.user_id} are you there?", mentions=(bridge.user_id,))
    await world.ann.wait_for(later, lambda e: e["type"] == "m.room.encryption")
    async with asyncio.timeout(30):
        while not await bridge._encrypted.encrypted(bridge._require_client(), later):
            await asyncio.sleep(0.1)
    await bridge.post(later, "Finished customer-a/seam: val_loss 0.08")
    bodies = [
        e["content"].get("body")
        for e in await world.ann.events(later)
        if e["sender"] == bridge.user_id and e["type"] == "m.room.message"
    ]
    assert bodies == ["Started customer-a/seam", NOTICE]


async def test_an_encrypted_dm_is_joined_and_told_once_why_the_bot_is_silent(
    world: World, running: tuple[MatrixBridge, Received]
) -> None:
    bridge, _ = running
    dm = await world.bob.create_room(invite=(bridge.user_id,), direct=True)
    await world.bob.enable_encryption(dm)
    notice = await world.bob.wait_for(dm, by(bridge.user_id, msgtype="m.notice"))
    assert notice["content"]["body"] == NOTICE
    assert await bridge.post(dm, "what's running: …") == notice["event_id"]


# -- settings and login -------------------------------------------------------------------


async def test_a_password_login_keeps_its_device_across_restarts(
    world: World, tmp_path: Path
) -> None:
    user = await asyncio.to_thread(world.synapse.register, "password-bot")
    await world.ann.invite(world.notify_room, user.user_id)
    devices = []
    for _ in range(2):
        bridge = MatrixBridge(
            world.synapse.url,
            user.user_id,
            notify_room=NOTIFY_ALIAS,
            state_dir=tmp_path,
            password=user.password,
        )
        assert await bridge.connect() == world.notify_room
        assert bridge._client is not None
        devices.append(bridge._client.device_id)
        await bridge.stop()
    assert devices[0] == devices[1] and devices[0] != user.device_id
    assert (tmp_path / "matrix.sqlite").stat().st_mode & 0o077 == 0


async def test_a_bad_token_or_room_fails_at_start_naming_the_setting(
    world: World, tmp_path: Path
) -> None:
    bad_token = make_bridge(world, tmp_path / "a", access_token="syt_not_a_token")
    with pytest.raises(MatrixBridgeError, match="MATRIX_ACCESS_TOKEN was refused.*M_UNKNOWN_TOKEN"):
        await bad_token.connect()
    await bad_token.stop()
    no_room = make_bridge(world, tmp_path / "b", notify_room="#nowhere:localhost")
    with pytest.raises(MatrixBridgeError, match="cannot join MATRIX_NOTIFY_ROOM=#nowhere"):
        await no_room.connect()
    await no_room.stop()


# -- doctor -------------------------------------------------------------------------------


def doctor_settings(world: World, state: Path, room: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": state,
        "chat": "matrix",
        "matrix_homeserver": world.synapse.url,
        "matrix_user_id": world.bot.user_id,
        "matrix_access_token": world.bot.access_token,
        "matrix_notify_room": room,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_doctor_checks_login_membership_power_and_encryption(
    world: World, tmp_path: Path
) -> None:
    bot = MatrixPerson(world.synapse.url, world.bot)
    try:
        await bot.join(world.notify_room)
        encrypted = await world.ann.create_room(invite=(world.bot.user_id,))
        await world.ann.enable_encryption(encrypted)
        await bot.join(encrypted)
        muted = await world.ann.create_room(invite=(world.bot.user_id,))
        await bot.join(muted)
        # (Ann created the room: in room version 12 its creator outranks any power level.)
        await world.ann.set_state(muted, "m.room.power_levels", {"events_default": 50})
        elsewhere = await world.ann.create_room()
    finally:
        await bot.aclose()

    async def doctor(room: str, **extra: Any) -> tuple[bool, str]:
        settings = doctor_settings(world, tmp_path, room, **extra)
        return await asyncio.to_thread(check_matrix, settings)

    assert await doctor(NOTIFY_ALIAS) == (
        True,
        f"logged in as {world.bot.user_id}; in {NOTIFY_ALIAS}, may post, unencrypted",
    )
    ok, line = await doctor(encrypted)
    assert not ok and "is encrypted; the bridge needs an unencrypted room" in line
    ok, line = await doctor(muted)
    assert not ok and "may not post" in line and "power 0, needs 50" in line
    ok, line = await doctor(elsewhere)
    assert not ok and "not in" in line and "invite the bot" in line
    ok, line = await doctor(NOTIFY_ALIAS, matrix_access_token="syt_wrong")
    assert not ok and line.startswith(f"login as {world.bot.user_id} failed")
