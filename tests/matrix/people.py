"""People on the homeserver, as a Matrix client drives it: the client-server API over HTTP.

What the tests do as Ann, Bob or a stranger (send, reply in a thread, react,
take a reaction back, invite the bot to a DM) and what they read back (a
room's events, an event, a media file) goes through Synapse's real API, the
same calls Element makes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from tests.matrix.synapse import MatrixUser

_txn = itertools.count()
Event = dict[str, Any]


class MatrixPerson:
    def __init__(self, url: str, user: MatrixUser) -> None:
        self.user = user
        self.user_id = user.user_id
        self._http = httpx.AsyncClient(
            base_url=f"{url}/_matrix/client",
            headers={"Authorization": f"Bearer {user.access_token}"},
            timeout=30,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = await self._http.request(method, path, **kwargs)
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path} → {r.status_code} {r.text}")
        return r.json()

    # -- rooms --------------------------------------------------------------------------

    async def create_room(
        self, *, invite: tuple[str, ...] = (), alias: str | None = None, direct: bool = False
    ) -> str:
        body: dict[str, Any] = {"invite": list(invite), "preset": "private_chat"}
        if alias:
            body["room_alias_name"] = alias
        if direct:
            body |= {"is_direct": True, "preset": "trusted_private_chat"}
        return str((await self._call("POST", "/v3/createRoom", json=body))["room_id"])

    async def join(self, room: str) -> str:
        return str((await self._call("POST", f"/v3/join/{quote(room)}", json={}))["room_id"])

    async def invite(self, room: str, user_id: str) -> None:
        await self._call("POST", f"/v3/rooms/{room}/invite", json={"user_id": user_id})

    async def members(self, room: str) -> dict[str, str]:
        """user id → membership (join, invite, leave…)."""
        state = await self._call("GET", f"/v3/rooms/{room}/members")
        return {e["state_key"]: e["content"]["membership"] for e in state["chunk"]}

    async def set_state(self, room: str, event_type: str, content: dict[str, Any]) -> None:
        await self._call("PUT", f"/v3/rooms/{room}/state/{event_type}/", json=content)

    async def enable_encryption(self, room: str) -> None:
        await self.set_state(room, "m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})

    # -- talking ------------------------------------------------------------------------

    async def send(self, room: str, event_type: str, content: dict[str, Any]) -> str:
        txn = f"t{next(_txn)}-{uuid.uuid4().hex[:8]}"
        path = f"/v3/rooms/{room}/send/{event_type}/{txn}"
        return str((await self._call("PUT", path, json=content))["event_id"])

    async def say(
        self, room: str, text: str, *, thread: str | None = None, mentions: tuple[str, ...] = ()
    ) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if mentions:
            content["m.mentions"] = {"user_ids": list(mentions)}
        if thread:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread},
            }
        return await self.send(room, "m.room.message", content)

    async def edit(self, room: str, event_id: str, text: str) -> str:
        new = {"msgtype": "m.text", "body": text}
        content = {
            **new,
            "body": "* " + text,
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send(room, "m.room.message", content)

    async def react(self, room: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room, "m.reaction", {"m.relates_to": relation})

    async def redact(self, room: str, event_id: str) -> None:
        txn = f"r{next(_txn)}-{uuid.uuid4().hex[:8]}"
        await self._call("PUT", f"/v3/rooms/{room}/redact/{event_id}/{txn}", json={})

    # -- reading ------------------------------------------------------------------------

    async def events(self, room: str, limit: int = 200) -> list[Event]:
        """The room's latest events, oldest first (with threads: every event of the room)."""
        page = await self._call(
            "GET", f"/v3/rooms/{room}/messages", params={"dir": "b", "limit": limit}
        )
        return list(reversed(page["chunk"]))

    async def event(self, room: str, event_id: str) -> Event:
        return dict(await self._call("GET", f"/v3/rooms/{room}/event/{event_id}"))

    async def wait_for(
        self, room: str, check: Callable[[Event], bool], timeout: float = 30.0
    ) -> Event:
        """The first event in `room` for which `check` holds, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for event in await self.events(room):
                if check(event):
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no such event in {room} within {timeout} s")
            await asyncio.sleep(0.1)

    async def download(self, mxc: str) -> bytes:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        r = await self._http.get(f"/v1/media/download/{server}/{media_id}")
        r.raise_for_status()
        return r.content


def by(
    sender: str, *, thread: str | None = None, msgtype: str | None = None
) -> Callable[[Event], bool]:
    """A check for `wait_for`: a message from `sender`, in `thread`, of `msgtype`."""

    def check(event: Event) -> bool:
        content = event.get("content") or {}
        rel = content.get("m.relates_to") or {}
        return (
            event.get("type") == "m.room.message"
            and event.get("sender") == sender
            and rel.get("rel_type") != "m.replace"
            and (
                thread is None
                or (rel.get("rel_type") == "m.thread" and rel.get("event_id") == thread)
            )
            and (msgtype is None or content.get("msgtype") == msgtype)
        )

    return check


def edits_of(event_id: str) -> Callable[[Event], bool]:
    def check(event: Event) -> bool:
        rel = (event.get("content") or {}).get("m.relates_to") or {}
        return rel.get("rel_type") == "m.replace" and rel.get("event_id") == event_id

    return check
