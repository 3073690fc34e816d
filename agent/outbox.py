"""Where a conversation's messages go in chat.

A job's (or sweep's) first message starts a thread in the notify channel and
every later one goes into that thread; a person's DM or thread already has
its place. Without a chat bridge, messages are logged, so the service still
runs (and records every turn) on a machine with no Slack yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container
from pathlib import Path

from agent.chat.base import ChatBridge
from agent.chat.card import Card
from agent.chat.safety import safe_text
from agent.conversations import Conversations

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self,
        chat: ChatBridge | None,
        conversations: Conversations,
        notify_channel: str | None,
        mentionable: Container[str] = frozenset(),
        channel_for: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        self.chat = chat
        self.conversations = conversations
        self.notify_channel = notify_channel
        # Where a conversation's thread starts: its route's channel, else the notify channel.
        self.channel_for = channel_for
        # Who a message may mention; everything posted passes `safe_text` (no broadcasts).
        self.mentionable = mentionable
        self._locks: dict[str, asyncio.Lock] = {}

    async def reply(self, conversation: str, text: str, card: Card | None = None) -> str | None:
        """Post into the conversation's thread, starting it if this is the first message."""
        text = safe_text(text, self.mentionable)
        card = card.safe(self.mentionable) if card is not None else None
        if self.chat is None:
            log.info("[%s] %s", conversation, text)
            return None
        # One lock per conversation: two first messages must not start two threads.
        async with self._locks.setdefault(conversation, asyncio.Lock()):
            conv = await self.conversations.get(conversation)
            if conv.channel and conv.thread_ts:
                return await self.chat.post(conv.channel, text, thread_ts=conv.thread_ts, card=card)
            channel = self.channel_for(conversation) or self._require_notify_channel()
            ts = await self.chat.post(channel, text, card=card)
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

    async def update(self, channel: str, ts: str, text: str, card: Card | None = None) -> None:
        if self.chat is not None:
            card = card.safe(self.mentionable) if card is not None else None
            await self.chat.update(channel, ts, safe_text(text, self.mentionable), card=card)

    def mention(self, user: str) -> str:
        return self.chat.mention(user) if self.chat is not None else f"@{user}"

    async def notice(self, text: str) -> None:
        """A plain operational notice to the notify channel (not part of any conversation)."""
        text = safe_text(text, self.mentionable)
        if self.chat is None or not self.notify_channel:
            log.warning("notice: %s", text)
            return
        await self.chat.post(self.notify_channel, text)

    def _require_notify_channel(self) -> str:
        if not self.notify_channel:
            raise RuntimeError("MLOPS_NOTIFY_CHANNEL is not set: nowhere to post job messages")
        return self.notify_channel
