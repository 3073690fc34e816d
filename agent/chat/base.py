"""The chat-bridge interface the turn engine talks to.

A bridge delivers people's messages and button clicks to the service, and
posts, updates and uploads on its behalf. It drops what is not a person
talking (bot messages, its own messages, edits, retries); the allowlist is
enforced by the service behind it, so every bridge gets it for free.

What is posted is made safe by the bridge that carries it (`Sanitising`), in its
own syntax; a bridge without a sanitiser of its own gets the chat-neutral one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from agent.chat.card import Card
from agent.chat.safety import Sanitiser, without_broadcasts


@dataclass(frozen=True)
class IncomingMessage:
    channel: str
    ts: str
    user: str
    text: str
    # Root of the thread the message is in; None for a top-level message.
    thread_ts: str | None = None
    is_dm: bool = False
    # Set by a chat that knows the conversation already: the web page writes into any
    # thread, also one that no chat carries yet (a job the agent was silent about).
    conversation: str | None = None

    @property
    def thread_root(self) -> str:
        """The thread a reply belongs in: the existing one, or a new one under this message."""
        return self.thread_ts or self.ts


@dataclass(frozen=True)
class ButtonClick:
    action_id: str  # "approve" or "reject"
    value: str  # what the button carries: a proposal id
    user: str
    channel: str
    message_ts: str  # the card's ts
    thread_ts: str | None = None


MessageHandler = Callable[[IncomingMessage], Awaitable[None]]
ClickHandler = Callable[[ButtonClick], Awaitable[None]]


class ChatBridge(Protocol):
    async def start(self, on_message: MessageHandler, on_click: ClickHandler) -> None:
        """Connect and start delivering; returns once connected."""

    async def stop(self) -> None: ...

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        card: Card | None = None,
    ) -> str:
        """Post Markdown (converted and split by the bridge), or a proposal card with `text`
        as its fallback; returns the message's id (its ts)."""

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        """Replace a message, e.g. a card showing its outcome."""

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None: ...

    def mention(self, user: str) -> str:
        """How this chat writes a mention of `user` in a message."""


class PageBridge(ChatBridge, Protocol):
    """A chat that carries one channel of its own beside the main chat (the web page)."""

    channel: str


@runtime_checkable
class Sanitising(Protocol):
    """A bridge that knows what its chat's syntax makes dangerous."""

    def safe(self, text: str, mentionable: Container[str]) -> str:
        """`text` as this chat may be sent it: no broadcast, mentions only of people in
        `mentionable`, in this chat's syntax."""


def sanitiser(bridge: object | None) -> Sanitiser:
    """How a message to `bridge` is made safe: its own way, else the chat-neutral one."""
    return bridge.safe if isinstance(bridge, Sanitising) else without_broadcasts
