"""The Matrix bridge: a `ChatBridge` over a homeserver, through matrix-nio.

Receiving is one long-poll sync loop. Each batch is handed to the service (the
allowlist, then the durable inbox) before its `next_batch` is stored, so a
crash or restart delivers at least once and the inbox's dedupe (by event id)
makes it once. The very first sync, with no stored position, is the room's
history: only its pending invites are acted on. A timeline the homeserver cut
short (`limited`, after a long downtime) is filled in from `/messages` back
to the stored position.

Approvals without buttons: a proposal card is one message; the bot puts a ✅
and a ❌ under it to click on, and an allowlisted person's ✅/❌ **on that
card** is the same `ButtonClick` a Slack button makes. Which event is which
proposal's card is kept in the state dir. Reactions by others, on other
messages, or on a decided card do nothing here; the intake and the write gate
check everything again. A reaction taken back before the bridge turns it into
a click does nothing either, however the homeserver hands the two over (a
batch computed before the redaction, the redaction in a later batch, a
timeline filled back in): the click is made only after reading the reaction
as the homeserver holds it then.

Rooms must be unencrypted (the bridge keeps no E2EE keys): `doctor` says so of
the notify room, and every room is checked before anything is posted into it
(`encryption`): an encrypted one gets one notice instead, never the message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    InviteMemberEvent,
    JoinResponse,
    MessageDirection,
    RoomGetEventResponse,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)

from agent import metrics
from agent.chat.base import ButtonClick, ClickHandler, MessageHandler
from agent.chat.card import Card
from agent.chat.matrix import events
from agent.chat.matrix.encryption import EncryptedRooms
from agent.chat.matrix.html import (
    APPROVE_KEY,
    MAX_CHARS,
    MAX_EVENT_BYTES,
    REJECT_KEY,
    Renderer,
)
from agent.chat.matrix.session import MatrixBridgeError, call, log_in, new_client
from agent.chat.matrix.store import MatrixStore
from agent.chat.mrkdwn import split_message

log = logging.getLogger(__name__)

STORE_FILE = "matrix.sqlite"
_SEEN_LIMIT = 10_000
_MAX_BACKOFF_S = 30.0
_GAP_PAGES = 20  # at most this many pages of 100 events fill one cut-short timeline


class MatrixBridge:
    def __init__(
        self,
        homeserver: str,
        user_id: str,
        *,
        notify_room: str,
        state_dir: Path,
        access_token: str | None = None,
        password: str | None = None,
        allowed_users: frozenset[str] = frozenset(),
        sync_timeout_ms: int = 30_000,
        timeline_limit: int = 50,
    ) -> None:
        if not (access_token or password):
            raise MatrixBridgeError("set MATRIX_ACCESS_TOKEN (or _FILE) or MATRIX_PASSWORD")
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.notify_room = notify_room
        self.allowed_users = allowed_users
        self._access_token = access_token
        self._password = password
        self._state_dir = state_dir
        self._sync_timeout_ms = sync_timeout_ms
        self._filter = sync_filter(timeline_limit)
        self._renderer = Renderer(allowed_users)
        self._encrypted = EncryptedRooms()
        self._client: AsyncClient | None = None
        self._store: MatrixStore | None = None
        self._notify_room_id: str | None = None
        self._direct: set[str] = set()
        self._rooms: dict[str, str] = {}  # alias → room id
        self._since: str | None = None
        self._sync_task: asyncio.Task[None] | None = None
        # Held from a batch's hand-over to the stored position: a stop waits for it.
        self._batch = asyncio.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._on_message: MessageHandler | None = None
        self._on_click: ClickHandler | None = None

    # -- life cycle ---------------------------------------------------------------------

    @property
    def notify_room_id(self) -> str:
        if self._notify_room_id is None:
            raise MatrixBridgeError("the Matrix bridge is not connected yet")
        return self._notify_room_id

    async def connect(self) -> str:
        """Log in and join the notify room; returns its room id. Idempotent."""
        if self._notify_room_id is not None:
            return self._notify_room_id
        self._store = MatrixStore(self._state_dir / STORE_FILE)
        self._client = new_client(self.homeserver, self.user_id)
        await log_in(
            self._client, self._store, access_token=self._access_token, password=self._password
        )
        try:
            self._notify_room_id = await self._join(self.notify_room)
        except MatrixBridgeError as exc:
            raise MatrixBridgeError(
                f"cannot join MATRIX_NOTIFY_ROOM={self.notify_room}: {exc}"
                f" (invite {self.user_id} to it, or make it joinable)"
            ) from exc
        self._direct = await self._store.direct_rooms()
        return self._notify_room_id

    async def start(self, on_message: MessageHandler, on_click: ClickHandler) -> None:
        await self.connect()
        assert self._store is not None
        self._on_message, self._on_click = on_message, on_click
        self._since = await self._store.next_batch()
        if self._since is None:
            # First start: what the rooms hold is history, not talk to answer now.
            response = await self._sync(timeout_ms=_unique_initial_timeout_ms())
            await self._handle(response, history=True)
            await self._advance(response.next_batch)
        self._sync_task = asyncio.create_task(self._sync_forever(), name="matrix-sync")

    async def stop(self) -> None:
        if self._sync_task is not None:
            # A batch half handed over would come again after the restart: let it finish,
            # then cut the long poll.
            async with self._batch:
                self._sync_task.cancel()
            await asyncio.gather(self._sync_task, return_exceptions=True)
            self._sync_task = None
        if self._client is not None:
            await self._client.close()
        if self._store is not None:
            self._store.close()
            self._store = None
        self._notify_room_id = None

    # -- sending ------------------------------------------------------------------------

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        card: Card | None = None,
    ) -> str:
        """Post Markdown as Matrix HTML, split into several events if long; a card is one
        event with the bot's ✅ and ❌ under it. Returns the (first) event id. An encrypted
        room gets its one notice instead (the notice's id)."""
        room = await self._room_id(channel)
        if await self._encrypted.encrypted(self._require_client(), room):
            return await self._encrypted.notice(room, self._send)
        if card is not None:
            content = self._renderer.card(card).content()
            event_id = await self._send(room, _in_thread(content, thread_ts))
            assert self._store is not None
            await self._store.add_card(event_id, room, card.proposal_id, thread_ts)
            await self._offer_reactions(room, event_id)
            return event_id
        first: str | None = None
        for chunk in self._chunks(text, MAX_CHARS):
            content = self._renderer.markdown(chunk).content()
            event_id = await self._send(room, _in_thread(content, thread_ts))
            first = first or event_id
        assert first is not None
        return first

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        """Edit a message (`m.replace`); an edit notifies nobody. A card showing its outcome
        stops taking reactions, and the bot's own ✅ ❌ under it are taken away."""
        room = await self._room_id(channel)
        if await self._encrypted.encrypted(self._require_client(), room):
            return
        rendered = self._renderer.card(card) if card else self._renderer.markdown(text)
        new = rendered.content()
        edit = {
            **new,
            "body": "* " + new["body"],
            "formatted_body": "* " + new["formatted_body"],
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": ts},
            "m.mentions": {},
        }
        await self._send(room, edit)
        if card is not None and card.outcome and self._store is not None:
            await self._store.mark_decided(ts)
            record = await self._store.card(ts)
            for reaction_id in record.bot_reactions if record else ():
                await self._redact(room, reaction_id)

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        """A file into the thread: `m.image` for pictures (with their size), `m.file` else."""
        if not path.is_file():
            raise MatrixBridgeError(f"cannot upload {path}: no such file")
        room = await self._room_id(channel)
        client = self._require_client()
        if await self._encrypted.encrypted(client, room):
            await self._encrypted.notice(room, self._send)
            return
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size
        uploaded, _ = await call(
            "upload",
            lambda: client.upload(
                lambda *_: path, content_type=mimetype, filename=path.name, filesize=size
            ),
        )
        assert isinstance(uploaded, UploadResponse)
        info: dict[str, Any] = {"mimetype": mimetype, "size": size}
        is_image = mimetype.startswith("image/")
        if is_image and (dimensions := _image_size(path)):
            info["w"], info["h"] = dimensions
        content = {
            "msgtype": "m.image" if is_image else "m.file",
            "body": title or path.name,
            "filename": path.name,
            "url": uploaded.content_uri,
            "info": info,
            "m.mentions": {},
        }
        await self._send(room, _in_thread(content, thread_ts))

    def mention(self, user: str) -> str:
        # A Matrix id reads as itself; the renderer turns it into a pill for people we may
        # mention and lists them in m.mentions.
        return user

    # -- receiving ----------------------------------------------------------------------

    async def _sync_forever(self) -> None:
        backoff = 1.0
        while True:
            try:
                response = await self._sync(self._sync_timeout_ms)
                async with self._batch:
                    await self._handle(response, history=False)
                    await self._advance(response.next_batch)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep syncing: the homeserver may be restarting
                log.warning("Matrix sync failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _sync(self, timeout_ms: int) -> SyncResponse:
        client = self._require_client()
        response = await call(
            "sync",
            lambda: client.sync(timeout=timeout_ms, since=self._since, sync_filter=self._filter),
        )
        assert isinstance(response, SyncResponse)
        return response

    async def _advance(self, token: str) -> None:
        assert self._store is not None
        self._since = token
        await self._store.set_next_batch(token)

    async def _handle(self, response: SyncResponse, *, history: bool) -> None:
        """Everything in one sync batch has reached the service when this returns."""
        work: list[Awaitable[None]] = []
        for room_id, invited in response.rooms.invite.items():
            members = [
                # nio takes `content` out of an invite event's source; put it back.
                {**e.source, "type": "m.room.member", "content": e.content}
                for e in invited.invite_state
                if isinstance(e, InviteMemberEvent)
            ]
            work.append(self._on_invite(room_id, members))
        for room_id, joined in response.rooms.join.items():
            self._encrypted.watch(
                room_id, (e.source for e in [*joined.state, *joined.timeline.events])
            )
        if not history:
            for room_id, joined in response.rooms.join.items():
                timeline = [e.source for e in joined.timeline.events]
                if joined.timeline.limited and joined.timeline.prev_batch:
                    timeline = await self._missed(room_id, joined.timeline.prev_batch) + timeline
                # One room's events in order: a person's two messages reach the inbox in order.
                work.append(self._on_events(room_id, timeline))
        results = await asyncio.gather(*work, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            # The position is not stored: the same batch comes again, and the inbox dedupes.
            raise MatrixBridgeError(f"handing a sync batch to the service failed: {errors[0]!r}")

    async def _missed(self, room_id: str, prev_batch: str) -> list[dict[str, Any]]:
        """Events between the stored position and a timeline the homeserver cut short."""
        client = self._require_client()
        missed: list[dict[str, Any]] = []
        start: str | None = prev_batch
        for _ in range(_GAP_PAGES):
            if start is None:
                break
            page = await call(
                "messages",
                lambda s=start: client.room_messages(  # type: ignore[misc]
                    room_id, start=s, end=self._since, direction=MessageDirection.back, limit=100
                ),
            )
            assert isinstance(page, RoomMessagesResponse)
            if not page.chunk:
                break
            missed += [e.source for e in page.chunk]
            start = page.end if page.end != start else None
        return list(reversed(missed))

    async def _on_events(self, room_id: str, timeline: Iterable[dict[str, Any]]) -> None:
        for event in timeline:
            event_id = str(event.get("event_id") or "")
            if not event_id or not self._first_time(event_id):
                continue
            if event.get("type") == "m.reaction":
                await self._on_reaction(room_id, event)
                continue
            message = events.incoming_message(
                room_id, event, self.user_id, is_dm=room_id in self._direct
            )
            if message is not None and self._on_message is not None:
                await self._on_message(message)

    async def _on_reaction(self, room_id: str, event: dict[str, Any]) -> None:
        reaction = events.reaction(event, self.user_id)
        if reaction is None or self._store is None or self._on_click is None:
            return
        card = await self._store.card(reaction.target)
        if card is None or card.room_id != room_id or card.decided:
            metrics.CHAT_IGNORED.labels(why="not_a_card").inc()
            return
        if await self._taken_back(room_id, reaction.event_id):
            metrics.CHAT_IGNORED.labels(why="taken_back").inc()
            return
        await self._on_click(
            ButtonClick(
                action_id=reaction.action,
                value=card.proposal_id,
                user=reaction.sender,
                channel=room_id,
                message_ts=card.event_id,
                thread_ts=card.thread_ts,
            )
        )

    async def _taken_back(self, room_id: str, event_id: str) -> bool:
        """Whether the homeserver holds this reaction redacted (or no longer at all) now.

        A sync batch shows each event as it was when the homeserver computed the batch,
        which can be long before the bridge reads it: Synapse keeps every answer for two
        minutes and hands it again to the same request, so the first sync after a restart
        may be the answer to the long poll the stop cut, holding a ✅ taken back since,
        whose redaction comes only in a later batch. Only the event as it is now tells; a
        reaction taken back after this read was taken back after the click, as a live one."""
        client = self._require_client()
        try:
            got = await call("get event", lambda: client.room_get_event(room_id, event_id))
        except MatrixBridgeError as exc:
            if exc.errcode == "M_NOT_FOUND":
                return True
            raise  # the batch is not stored as handled: it comes again
        assert isinstance(got, RoomGetEventResponse)
        now = got.event.source
        return "redacted_because" in (now.get("unsigned") or {}) or (
            events.reaction(now, self.user_id) is None
        )

    async def _on_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> None:
        """Join rooms an allowlisted person invites the bot to; decline every other invite
        (no model token is spent on a stranger)."""
        inviter, direct = events.invite_is_direct(invite_state, self.user_id)
        client = self._require_client()
        if room_id != self._notify_room_id and inviter not in self.allowed_users:
            metrics.CHAT_IGNORED.labels(why="not_allowed").inc()
            log.info(
                "declined an invite to %s from %s: not in MLOPS_ALLOWED_USERS", room_id, inviter
            )
            await call("leave", lambda: client.room_leave(room_id))
            return
        await self._join(room_id)
        if direct and inviter:
            assert self._store is not None
            await self._store.add_direct_room(room_id, inviter)
            self._direct.add(room_id)
        if await self._encrypted.encrypted(client, room_id):
            await self._encrypted.notice(room_id, self._send)  # why it will stay silent

    # -- plumbing -----------------------------------------------------------------------

    async def _join(self, room: str) -> str:
        client = self._require_client()
        joined = await call(f"join {room}", lambda: client.join(room))
        assert isinstance(joined, JoinResponse)
        self._rooms[room] = joined.room_id
        return str(joined.room_id)

    async def _room_id(self, channel: str) -> str:
        if channel.startswith("!"):
            return channel
        if channel not in self._rooms:
            await self._join(channel)  # an alias: resolved by joining (a no-op if joined)
        return self._rooms[channel]

    async def _send(self, room: str, content: dict[str, Any]) -> str:
        client = self._require_client()
        sent = await call(
            "send",
            lambda: client.room_send(
                room, "m.room.message", content, ignore_unverified_devices=True
            ),
        )
        assert isinstance(sent, RoomSendResponse)
        return str(sent.event_id)

    async def _offer_reactions(self, room: str, card_event: str) -> None:
        """The bot's own ✅ and ❌ under a card, so people click instead of typing emoji.
        A card without them still works (people can react themselves): failing here never
        fails the post, which would post the card twice."""
        client = self._require_client()
        ids = []
        try:
            for key in (APPROVE_KEY, REJECT_KEY):
                relation = {"rel_type": "m.annotation", "event_id": card_event, "key": key}
                sent = await call(
                    "react",
                    lambda r=relation: client.room_send(  # type: ignore[misc]
                        room, "m.reaction", {"m.relates_to": r}
                    ),
                )
                ids.append(str(sent.event_id))
        except MatrixBridgeError as exc:
            log.warning("could not put ✅ ❌ under card %s: %s", card_event, exc)
        assert self._store is not None
        await self._store.set_bot_reactions(card_event, ids)

    async def _redact(self, room: str, event_id: str) -> None:
        client = self._require_client()
        await call("redact", lambda: client.room_redact(room, event_id, reason="decided"))

    def _chunks(self, text: str, limit: int) -> list[str]:
        """Pieces of `text` whose rendered events stay under Matrix's event size."""
        chunks = []
        for chunk in split_message(text, limit):
            size = len(json.dumps(self._renderer.markdown(chunk).content()).encode())
            if size > MAX_EVENT_BYTES and limit > 500:
                chunks += self._chunks(chunk, limit // 2)
            else:
                chunks.append(chunk)
        return chunks

    def _require_client(self) -> AsyncClient:
        if self._client is None:
            raise MatrixBridgeError("the Matrix bridge is not connected yet")
        return self._client

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """What the bridge asks each sync for: room timelines and invites, nothing else."""
    return {
        "room": {
            "timeline": {"limit": timeline_limit},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
        "presence": {"types": []},
        "account_data": {"types": []},
    }


def _in_thread(content: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
    if thread_ts is None:
        return content
    return {
        **content,
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": thread_ts,
            # For clients without threads: shown as a reply to the thread's root.
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread_ts},
        },
    }


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.size
    except Exception:  # not an image Pillow reads: sent without dimensions
        return None


def _unique_initial_timeout_ms() -> int:
    """A timeout for the first sync that no earlier start used.

    Synapse keeps a sync response for two minutes, keyed by device, position,
    filter and timeout. A first start soon after another on the same device (a
    state dir wiped and started again) would get that older answer, and its
    position, and then take everything said since as new. Synapse answers an
    initial sync at once whatever its timeout; a server that waits waits < 1 s.
    """
    return 1 + time.time_ns() // 1_000_000 % 999
