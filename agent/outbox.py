"""Where a conversation's messages go in chat.

A job's (or sweep's) first message starts a thread in the notify channel and
every later one goes into that thread; a person's DM or thread already has
its place. Without a chat bridge, messages are logged, so the service still
runs (and records every turn) on a machine with no Slack yet.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from agent.chat.base import ChatBridge
from agent.conversations import Conversations

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self, chat: ChatBridge | None, conversations: Conversations, notify_channel: str | None
    ) -> None:
        self.chat = chat
        self.conversations = conversations
        self.notify_channel = notify_channel
        self._locks: dict[str, asyncio.Lock] = {}

    async def reply(self, conversation: str, text: str, blocks: list[dict[str, Any]] | None = None):
        """Post into the conversation's thread, starting it if this is the first message."""
        if self.chat is None:
            log.info("[%s] %s", conversation, text)
            return None
        # One lock per conversation: two first messages must not start two threads.
        async with self._locks.setdefault(conversation, asyncio.Lock()):
            conv = await self.conversations.get(conversation)
            if conv.channel and conv.thread_ts:
                return await self.chat.post(
                    conv.channel, text, thread_ts=conv.thread_ts, blocks=blocks
                )
            channel = self._require_notify_channel()
            ts = await self.chat.post(channel, text, blocks=blocks)
            await self.conversations.set_thread(conversation, channel, ts)
            return ts

    async def upload(self, conversation: str, path: Path, title: str | None = None) -> None:
        if self.chat is None:
            log.info("[%s] attachment %s", conversation, path)
            return
        conv = await self.conversations.get(conversation)
        if not (conv.channel and conv.thread_ts):
            await self.reply(conversation, title or path.name)
            conv = await self.conversations.get(conversation)
        assert conv.channel is not None
        await self.chat.upload(conv.channel, path, thread_ts=conv.thread_ts, title=title)

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        if self.chat is not None:
            await self.chat.update(channel, ts, text, blocks=blocks)

    async def notice(self, text: str) -> None:
        """A plain operational notice to the notify channel (not part of any conversation)."""
        if self.chat is None or not self.notify_channel:
            log.warning("notice: %s", text)
            return
        await self.chat.post(self.notify_channel, text)

    def _require_notify_channel(self) -> str:
        if not self.notify_channel:
            raise RuntimeError("MLOPS_NOTIFY_CHANNEL is not set: nowhere to post job messages")
        return self.notify_channel
