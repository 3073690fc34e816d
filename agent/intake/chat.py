"""People's messages and clicks in: allowlist first, then the durable inbox.

The allowlist is a security boundary, so it lives here, behind every bridge:
a sender not on it is dropped before anything is stored and before any model
token is spent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container

from agent import metrics
from agent.chat.base import ButtonClick, IncomingMessage
from agent.engine.conversations import Conversations
from agent.engine.inbox import Inbox

log = logging.getLogger(__name__)

# proposal id → the conversation it belongs to (None when unknown)
ProposalLookup = Callable[[str], Awaitable[str | None]]


def person_conversation(channel: str, thread_root: str) -> str:
    """The key of a conversation a person started: a DM, or a thread of their own."""
    return f"chat:{channel}:{thread_root}"


class ChatIntake:
    def __init__(
        self,
        *,
        allowed_users: frozenset[str],
        inbox: Inbox,
        conversations: Conversations,
        proposal_conversation: ProposalLookup | None,
        wake: Callable[[], None],
        shared_channels: Container[str] | None = None,
    ) -> None:
        """`shared_channels`: the notify channel and the routes' (a thread started there is
        the route's; anywhere else it is its starter's own, as a DM is). None: every channel."""
        self.shared_channels = shared_channels
        self.allowed_users = allowed_users
        self.inbox = inbox
        self.conversations = conversations
        self.proposal_conversation = proposal_conversation
        self.wake = wake

    def allowed(self, user: str) -> bool:
        return user in self.allowed_users

    async def on_message(self, msg: IncomingMessage) -> None:
        if not self.allowed(msg.user):
            metrics.CHAT_IGNORED.labels(why="not_allowed").inc()
            log.info("ignored a message from %s: not in MLOPS_ALLOWED_USERS", msg.user)
            return
        key = msg.conversation
        if key is None and msg.thread_ts:
            key = await self.conversations.by_thread(msg.channel, msg.thread_ts)
        if key is None:
            # A DM or a thread a person starts is its own conversation, answered in place.
            key = person_conversation(msg.channel, msg.thread_root)
            await self.conversations.set_thread(key, msg.channel, msg.thread_root)
            # A DM (and a thread of the web page) is theirs alone; a thread in a route's
            # channel, the route's (the web page shows it by these).
            shared = self.shared_channels is None or msg.channel in self.shared_channels
            await self.conversations.started(key, msg.user, private=msg.is_dm or not shared)
        payload = {"user": msg.user, "text": msg.text, "channel": msg.channel, "ts": msg.ts}
        await self.inbox.put("chat", f"{msg.channel}:{msg.ts}", key, payload)
        self.wake()

    async def on_click(self, click: ButtonClick) -> None:
        if not self.allowed(click.user):
            metrics.CHAT_IGNORED.labels(why="not_allowed").inc()
            log.info("ignored a click from %s: not in MLOPS_ALLOWED_USERS", click.user)
            return
        if click.action_id not in ("approve", "reject") or self.proposal_conversation is None:
            metrics.CHAT_IGNORED.labels(why="unknown_action").inc()
            return
        key = await self.proposal_conversation(click.value)
        if key is None:
            metrics.CHAT_IGNORED.labels(why="unknown_proposal").inc()
            return
        payload = {
            "user": click.user,
            "action": click.action_id,
            "proposal": click.value,
            "channel": click.channel,
            "card_ts": click.message_ts,
        }
        # One click item per person and action: a double click delivers once.
        dedupe = f"{click.value}:{click.action_id}:{click.user}"
        await self.inbox.put("click", dedupe, key, payload)
        self.wake()
