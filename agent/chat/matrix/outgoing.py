"""What the bridge sends: messages as Matrix HTML (split to fit an event), proposal cards
with the bot's ✅ and ❌ under them, edits, and files. An encrypted room gets its one
notice instead (`encryption`)."""

from __future__ import annotations

import json
import logging
import mimetypes
from pathlib import Path
from typing import Any

from nio import UploadResponse

from agent.chat.card import Card
from agent.chat.matrix.html import APPROVE_KEY, MAX_CHARS, MAX_EVENT_BYTES, REJECT_KEY, Renderer
from agent.chat.matrix.rooms import Rooms
from agent.chat.matrix.session import Connection, MatrixBridgeError, call
from agent.chat.mrkdwn import split_message

log = logging.getLogger(__name__)


class Outgoing:
    def __init__(self, connection: Connection, rooms: Rooms, renderer: Renderer) -> None:
        self._connection = connection
        self._rooms = rooms
        self._renderer = renderer

    async def post(
        self, channel: str, text: str, *, thread_ts: str | None = None, card: Card | None = None
    ) -> str:
        room = await self._rooms.room_id(channel)
        if await self._rooms.is_encrypted(room):
            return await self._rooms.notice(room)
        if card is not None:
            content = self._renderer.card(card).content()
            event_id = await self._rooms.send(room, in_thread(content, thread_ts))
            await self._connection.require_store().add_card(
                event_id, room, card.proposal_id, thread_ts
            )
            await self._offer_reactions(room, event_id)
            return event_id
        first: str | None = None
        for chunk in self._chunks(text, MAX_CHARS):
            content = self._renderer.markdown(chunk).content()
            event_id = await self._rooms.send(room, in_thread(content, thread_ts))
            first = first or event_id
        assert first is not None
        return first

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        room = await self._rooms.room_id(channel)
        if await self._rooms.is_encrypted(room):
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
        await self._rooms.send(room, edit)
        store = self._connection.store
        if card is not None and card.outcome and store is not None:
            await store.mark_decided(ts)
            record = await store.card(ts)
            for reaction_id in record.bot_reactions if record else ():
                await self._rooms.redact(room, reaction_id)

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        if not path.is_file():
            raise MatrixBridgeError(f"cannot upload {path}: no such file")
        room = await self._rooms.room_id(channel)
        client = self._connection.require_client()
        if await self._rooms.is_encrypted(room):
            await self._rooms.notice(room)
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
        await self._rooms.send(room, in_thread(content, thread_ts))

    async def _offer_reactions(self, room: str, card_event: str) -> None:
        """The bot's own ✅ and ❌ under a card, so people click instead of typing emoji.
        A card without them still works (people can react themselves): failing here never
        fails the post, which would post the card twice."""
        client = self._connection.require_client()
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
        await self._connection.require_store().set_bot_reactions(card_event, ids)

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


def in_thread(content: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
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
