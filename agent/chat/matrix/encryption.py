"""Encrypted rooms: the bridge keeps no end-to-end keys, so it never posts into one.

Every room the bridge posts into — the notify room, a route's room, a DM — is
checked once (its `m.room.encryption` state) and watched in the sync (a room
can turn encryption on later, never off). Instead of the message, the room gets
one plain notice saying why the agent is silent there; nothing of the
conversation is sent. What people write in such a room arrives encrypted and
is not read either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nio import AsyncClient, RoomGetStateEventError, RoomGetStateEventResponse

from agent.chat.matrix.session import MatrixBridgeError

ENCRYPTION = "m.room.encryption"
NOTICE = (
    "This room is end-to-end encrypted. mlops-agent keeps no encryption keys, so it can"
    " neither read nor write here: talk to it in an unencrypted room or direct chat."
)


class EncryptedRooms:
    def __init__(self) -> None:
        self._encrypted: dict[str, bool] = {}
        self._notices: dict[str, str] = {}  # room → the notice's event id
        self._sending = asyncio.Lock()  # an invite's join and a post racing: still one notice

    def watch(self, room: str, events: Iterable[dict[str, Any]]) -> None:
        """Note a room that turned encryption on (its state or timeline in a sync)."""
        if any(e.get("type") == ENCRYPTION for e in events):
            self._encrypted[room] = True

    async def encrypted(self, client: AsyncClient, room: str) -> bool:
        if room not in self._encrypted:
            response = await client.room_get_state_event(room, ENCRYPTION)
            if isinstance(response, RoomGetStateEventError):
                if response.status_code != "M_NOT_FOUND":
                    raise MatrixBridgeError(
                        f"reading {ENCRYPTION} of {room} failed: {response.message}"
                    )
                self._encrypted[room] = False
            else:
                assert isinstance(response, RoomGetStateEventResponse)
                self._encrypted[room] = True
        return self._encrypted[room]

    async def notice(self, room: str, send: Callable[[str, dict[str, Any]], Awaitable[str]]) -> str:
        """The room's one notice (sent the first time): its event id."""
        async with self._sending:
            if room not in self._notices:
                content = {"msgtype": "m.notice", "body": NOTICE, "m.mentions": {}}
                self._notices[room] = await send(room, content)
        return self._notices[room]
