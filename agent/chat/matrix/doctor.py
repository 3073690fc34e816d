"""`mlops-agent doctor`'s Matrix line: can the bot log in, is it in the notify room, may it
post there, and is the room unencrypted (the bridge keeps no end-to-end keys, so it could
neither read nor write an encrypted room)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    JoinedRoomsResponse,
    RoomGetStateEventError,
    RoomGetStateEventResponse,
    RoomResolveAliasResponse,
)

from agent.chat.matrix.bridge import STORE_FILE
from agent.chat.matrix.session import MatrixBridgeError, call, log_in, new_client
from agent.chat.matrix.store import MatrixStore


@dataclass(frozen=True)
class MatrixAccount:
    """The bot's account and room as the settings give them (`mlops-agent doctor`)."""

    state_dir: Path
    homeserver: str | None
    user_id: str | None
    room: str | None
    access_token: str | None = None
    password: str | None = None


def check(account: MatrixAccount) -> tuple[bool, str]:
    if not (account.homeserver and account.user_id and account.room):
        return False, "set MATRIX_HOMESERVER, MATRIX_USER_ID and MATRIX_NOTIFY_ROOM"
    return asyncio.run(_check(account, account.homeserver, account.user_id, account.room))


async def _check(
    account: MatrixAccount, homeserver: str, user_id: str, room: str
) -> tuple[bool, str]:
    client = new_client(homeserver, user_id, request_timeout_s=10)
    store = MatrixStore(account.state_dir.resolve() / STORE_FILE)
    try:
        try:
            await log_in(
                client, store, access_token=account.access_token, password=account.password
            )
        except MatrixBridgeError as exc:
            return False, f"login as {user_id} failed: {exc}"
        room_id = room
        if room.startswith("#"):
            resolved = await call("resolve alias", lambda: client.room_resolve_alias(room))
            assert isinstance(resolved, RoomResolveAliasResponse)
            room_id = resolved.room_id
        joined = await call("joined rooms", client.joined_rooms)
        assert isinstance(joined, JoinedRoomsResponse)
        if room_id not in joined.rooms:
            return False, f"logged in as {user_id}, but not in {room}: invite the bot to it"
        power = await _state(client, room_id, "m.room.power_levels") or {}
        needed = (power.get("events") or {}).get("m.room.message", power.get("events_default", 0))
        level = (power.get("users") or {}).get(user_id, power.get("users_default", 0))
        if level < needed:
            return False, f"{user_id} may not post in {room} (power {level}, needs {needed})"
        if await _state(client, room_id, "m.room.encryption") is not None:
            return False, (
                f"{room} is encrypted; the bridge needs an unencrypted room"
                " (it keeps no end-to-end keys): use a room without encryption"
            )
        return True, f"logged in as {user_id}; in {room}, may post, unencrypted"
    except MatrixBridgeError as exc:
        return False, str(exc)
    finally:
        await client.close()
        store.close()


async def _state(client: AsyncClient, room_id: str, event_type: str) -> dict[str, Any] | None:
    """A room's state event content, or None if the room has none of that type."""
    response = await client.room_get_state_event(room_id, event_type)
    if isinstance(response, RoomGetStateEventError):
        if response.status_code == "M_NOT_FOUND":
            return None
        raise MatrixBridgeError(f"reading {event_type} of {room_id} failed: {response.message}")
    assert isinstance(response, RoomGetStateEventResponse)
    return dict(response.content)
