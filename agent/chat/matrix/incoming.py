"""What a sync batch brings, handed to the service: people's messages, reactions on
proposal cards as clicks, and invites (joined for allowlisted people, declined else).
See `agent.chat.matrix.bridge` for the guarantees (at least once, in order per room,
a reaction taken back is no click)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from typing import Any

from nio import (
    InviteMemberEvent,
    MessageDirection,
    RoomGetEventResponse,
    RoomMessagesResponse,
    SyncResponse,
)

from agent import metrics
from agent.chat.base import ButtonClick, ClickHandler, MessageHandler
from agent.chat.matrix import events
from agent.chat.matrix.rooms import Rooms
from agent.chat.matrix.session import Connection, MatrixBridgeError, call

log = logging.getLogger(__name__)

_SEEN_LIMIT = 10_000
_GAP_PAGES = 20  # at most this many pages of 100 events fill one cut-short timeline


class Incoming:
    def __init__(
        self,
        connection: Connection,
        rooms: Rooms,
        user_id: str,
        allowed_users: frozenset[str],
    ) -> None:
        self._connection = connection
        self._rooms = rooms
        self._user_id = user_id
        self._allowed_users = allowed_users
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.on_message: MessageHandler | None = None
        self.on_click: ClickHandler | None = None

    async def handle(self, response: SyncResponse, *, history: bool, since: str | None) -> None:
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
            self._rooms.encrypted.watch(
                room_id, (e.source for e in [*joined.state, *joined.timeline.events])
            )
        if not history:
            for room_id, joined in response.rooms.join.items():
                timeline = [e.source for e in joined.timeline.events]
                if joined.timeline.limited and joined.timeline.prev_batch:
                    missed = await self._missed(room_id, joined.timeline.prev_batch, since)
                    timeline = missed + timeline
                # One room's events in order: a person's two messages reach the inbox in order.
                work.append(self._on_events(room_id, timeline))
        results = await asyncio.gather(*work, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            # The position is not stored: the same batch comes again, and the inbox dedupes.
            raise MatrixBridgeError(f"handing a sync batch to the service failed: {errors[0]!r}")

    async def _missed(
        self, room_id: str, prev_batch: str, since: str | None
    ) -> list[dict[str, Any]]:
        """Events between the stored position and a timeline the homeserver cut short."""
        client = self._connection.require_client()
        missed: list[dict[str, Any]] = []
        start: str | None = prev_batch
        for _ in range(_GAP_PAGES):
            if start is None:
                break
            page = await call(
                "messages",
                lambda s=start: client.room_messages(  # type: ignore[misc]
                    room_id, start=s, end=since, direction=MessageDirection.back, limit=100
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
                room_id, event, self._user_id, is_dm=room_id in self._rooms.direct
            )
            if message is not None and self.on_message is not None:
                await self.on_message(message)

    async def _on_reaction(self, room_id: str, event: dict[str, Any]) -> None:
        reaction = events.reaction(event, self._user_id)
        store = self._connection.store
        if reaction is None or store is None or self.on_click is None:
            return
        card = await store.card(reaction.target)
        if card is None or card.room_id != room_id or card.decided:
            metrics.CHAT_IGNORED.labels(why="not_a_card").inc()
            return
        if await self._taken_back(room_id, reaction.event_id):
            metrics.CHAT_IGNORED.labels(why="taken_back").inc()
            return
        await self.on_click(
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
        client = self._connection.require_client()
        try:
            got = await call("get event", lambda: client.room_get_event(room_id, event_id))
        except MatrixBridgeError as exc:
            if exc.errcode == "M_NOT_FOUND":
                return True
            raise  # the batch is not stored as handled: it comes again
        assert isinstance(got, RoomGetEventResponse)
        now = got.event.source
        return "redacted_because" in (now.get("unsigned") or {}) or (
            events.reaction(now, self._user_id) is None
        )

    async def _on_invite(self, room_id: str, invite_state: list[dict[str, Any]]) -> None:
        """Join rooms an allowlisted person invites the bot to; decline every other invite
        (no model token is spent on a stranger)."""
        inviter, direct = events.invite_is_direct(invite_state, self._user_id)
        client = self._connection.require_client()
        if room_id != self._rooms.notify_id and inviter not in self._allowed_users:
            metrics.CHAT_IGNORED.labels(why="not_allowed").inc()
            log.info(
                "declined an invite to %s from %s: not in MLOPS_ALLOWED_USERS", room_id, inviter
            )
            await call("leave", lambda: client.room_leave(room_id))
            return
        await self._rooms.join(room_id)
        if direct and inviter:
            await self._connection.require_store().add_direct_room(room_id, inviter)
            self._rooms.direct.add(room_id)
        if await self._rooms.encrypted.encrypted(client, room_id):
            await self._rooms.notice(room_id)  # why it will stay silent

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True
