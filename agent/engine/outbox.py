"""Where a conversation's messages go in chat.

A job's (or sweep's) first message starts a thread in its route's channel
(else the notify channel) and every later one goes into that thread; a
person's DM or thread already has its place. Threads a person started on the
web page are carried by the page even when another chat carries the rest.
Every post, card, card update and upload is also written to the transcript,
whatever chat carried it, so the web page shows every thread. What is posted is
made safe first by the bridge that carries it, in its own syntax (no broadcasts,
mentions only of people in `mentionable`), and the transcript records it so. Without a chat
bridge, messages are logged, so the service still runs (and records every
turn) on a machine with no chat yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container
from pathlib import Path

from agent.accounts import WEB_USER_PREFIX
from agent.chat.base import ChatBridge, PageBridge, sanitiser
from agent.chat.card import Card
from agent.engine.conversations import Conversations
from agent.engine.transcript import Transcript

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self,
        chat: ChatBridge | None,
        conversations: Conversations,
        notify_channel: str | None,
        mentionable: Container[str] = frozenset(),
        *,
        channel_for: Callable[[str], str | None] = lambda _: None,
        transcript: Transcript | None = None,
        page: PageBridge | None = None,
    ) -> None:
        self.chat = chat
        self.conversations = conversations
        self.notify_channel = notify_channel
        # Where a conversation's thread starts: its route's channel, else the notify channel.
        self.channel_for = channel_for
        # Who a message may mention; everything posted passes its bridge's sanitiser.
        self.mentionable = mentionable
        self.transcript = transcript
        self.page = page
        self._locks: dict[str, asyncio.Lock] = {}

    async def reply(self, conversation: str, text: str, card: Card | None = None) -> str | None:
        """Post into the conversation's thread, starting it if this is the first message."""
        # One lock per conversation: two first messages must not start two threads.
        async with self._locks.setdefault(conversation, asyncio.Lock()):
            conv = await self.conversations.get(conversation)
            channel = conv.channel if conv.thread_ts else self._first_channel(conversation)
            bridge = self._bridge(channel)
            safe = self._safe(bridge)
            text, card = safe(text), card.safe(safe) if card is not None else None
            ts: str | None = None
            if bridge is None:
                log.info("[%s] %s", conversation, text)
            elif conv.channel and conv.thread_ts:
                ts = await bridge.post(conv.channel, text, thread_ts=conv.thread_ts, card=card)
            else:
                channel = channel or self._require_notify_channel()
                ts = await bridge.post(channel, text, card=card)
                await self.conversations.set_thread(conversation, channel, ts)
            if self.transcript is not None:
                await self.transcript.posted(conversation, channel if ts else None, ts, text, card)
            return ts

    async def upload(self, conversation: str, path: Path, title: str | None = None) -> None:
        conv = await self.conversations.get(conversation)
        bridge = self._bridge(conv.channel if conv.thread_ts else self._first_channel(conversation))
        if bridge is None:
            log.info("[%s] attachment %s", conversation, path)
        else:
            if not (conv.channel and conv.thread_ts):
                await self.reply(conversation, title or path.name)
                conv = await self.conversations.get(conversation)
            assert conv.channel is not None
            await bridge.upload(conv.channel, path, thread_ts=conv.thread_ts, title=title)
        if self.transcript is not None:
            await self.transcript.uploaded(conversation, conv.channel, path, title)

    async def update(self, channel: str, ts: str, text: str, card: Card | None = None) -> None:
        bridge = self._bridge(channel)
        safe = self._safe(bridge)
        text, card = safe(text), card.safe(safe) if card is not None else None
        if bridge is not None:
            await bridge.update(channel, ts, text, card=card)
        if self.transcript is not None:
            await self.transcript.updated(channel, ts, text, card)

    def mention(self, user: str) -> str:
        # A web page user is nobody any chat can mention: their name is shown as it is.
        if user.startswith(WEB_USER_PREFIX):
            return user
        return self.chat.mention(user) if self.chat is not None else f"@{user}"

    async def notice(self, text: str) -> None:
        """A plain operational notice to the notify channel (not part of any conversation)."""
        text = self._safe(self.chat)(text)
        ts = None
        if self.chat is None or not self.notify_channel:
            log.warning("notice: %s", text)
        else:
            ts = await self.chat.post(self.notify_channel, text)
        if self.transcript is not None:
            await self.transcript.posted(None, self.notify_channel if ts else None, ts, text)

    def _bridge(self, channel: str | None) -> ChatBridge | None:
        """The page carries the threads people started on it; the chat carries the rest."""
        if self.page is not None and channel == self.page.channel:
            return self.page
        return self.chat

    def _safe(self, bridge: ChatBridge | None) -> Callable[[str], str]:
        """The sanitising of the chat that carries a message, for the people we may mention."""
        clean = sanitiser(bridge)
        return lambda text: clean(text, self.mentionable)

    def _first_channel(self, conversation: str) -> str | None:
        """Where a conversation's thread starts: its route's channel, else the notify channel."""
        return self.channel_for(conversation) or self.notify_channel

    def _require_notify_channel(self) -> str:
        if not self.notify_channel:
            raise RuntimeError("MLOPS_NOTIFY_CHANNEL is not set: nowhere to post job messages")
        return self.notify_channel
