"""The rooms the bot is in: aliases resolved by joining, which rooms are direct chats,
which are encrypted, and the one call that puts an event into a room."""

from __future__ import annotations

from typing import Any

from nio import JoinResponse, RoomSendResponse

from agent.chat.matrix.encryption import EncryptedRooms
from agent.chat.matrix.session import Connection, call


class Rooms:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._ids: dict[str, str] = {}  # alias → room id
        self.notify_id: str | None = None
        self.direct: set[str] = set()
        self.encrypted = EncryptedRooms()

    async def join(self, room: str) -> str:
        client = self._connection.require_client()
        joined = await call(f"join {room}", lambda: client.join(room))
        assert isinstance(joined, JoinResponse)
        self._ids[room] = joined.room_id
        return str(joined.room_id)

    async def room_id(self, channel: str) -> str:
        if channel.startswith("!"):
            return channel
        if channel not in self._ids:
            await self.join(channel)  # an alias: resolved by joining (a no-op if joined)
        return self._ids[channel]

    async def is_encrypted(self, room: str) -> bool:
        return await self.encrypted.encrypted(self._connection.require_client(), room)

    async def notice(self, room: str) -> str:
        """The encrypted room's one notice, why the agent stays silent there."""
        return await self.encrypted.notice(room, self.send)

    async def send(self, room: str, content: dict[str, Any]) -> str:
        client = self._connection.require_client()
        sent = await call(
            "send",
            lambda: client.room_send(
                room, "m.room.message", content, ignore_unverified_devices=True
            ),
        )
        assert isinstance(sent, RoomSendResponse)
        return str(sent.event_id)

    async def redact(self, room: str, event_id: str) -> None:
        client = self._connection.require_client()
        await call("redact", lambda: client.room_redact(room, event_id, reason="decided"))
