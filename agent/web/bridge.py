"""The web page as a `ChatBridge`: what the service posts is already in the transcript.

The outbox writes every post, card and upload to the transcript, so this
bridge has nothing to deliver: `post` hands back an id of its own (the
message's place in its thread), `update` and `upload` have nothing to add.
The other way, the page hands a person's words and clicks to the service's
chat intake, the same door every chat uses (allowlist, then the inbox).
"""

from __future__ import annotations

import secrets
from collections.abc import Container
from pathlib import Path

from agent.chat.base import ButtonClick, ClickHandler, IncomingMessage, MessageHandler
from agent.chat.card import Card
from agent.chat.safety import without_broadcasts
from agent.intake.chat import person_conversation
from agent.web import WEB_CHANNEL


class WebBridgeError(RuntimeError):
    pass


def new_id() -> str:
    """A message id, unique across restarts (the inbox dedupes a person's message on it)."""
    return secrets.token_hex(8)


class WebBridge:
    channel = WEB_CHANNEL  # the threads people start on the page; the page carries them

    def __init__(self) -> None:
        self._on_message: MessageHandler | None = None
        self._on_click: ClickHandler | None = None

    async def start(self, on_message: MessageHandler, on_click: ClickHandler) -> None:
        self._on_message, self._on_click = on_message, on_click

    async def stop(self) -> None:
        self._on_message = self._on_click = None

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        card: Card | None = None,
    ) -> str:
        return new_id()

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        return None

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        return None

    def mention(self, user: str) -> str:
        return user

    def safe(self, text: str, mentionable: Container[str]) -> str:
        """The page notifies nobody, and shows Markdown with raw HTML off: only the
        broadcast words are neutralised, so a thread reads the same in every chat."""
        return without_broadcasts(text, mentionable)

    # -- from the page -----------------------------------------------------------------

    async def say(self, user: str, text: str, conversation: str | None) -> str:
        """A person's message into `conversation`, or into a new thread of their own when
        None; returns the conversation it went to."""
        if self._on_message is None:
            raise WebBridgeError("the web bridge is not started")
        ts = new_id()
        # A new thread of the page is its writer's own, as a DM is.
        message = IncomingMessage(
            channel=WEB_CHANNEL,
            ts=ts,
            user=user,
            text=text,
            is_dm=conversation is None,
            conversation=conversation,
        )
        await self._on_message(message)
        return conversation or person_conversation(WEB_CHANNEL, ts)

    async def click(self, user: str, action: str, proposal_id: str, channel: str, ts: str) -> None:
        """Approve or Reject on a card: `channel` and `ts` are where the card was posted."""
        if self._on_click is None:
            raise WebBridgeError("the web bridge is not started")
        await self._on_click(
            ButtonClick(
                action_id=action, value=proposal_id, user=user, channel=channel, message_ts=ts
            )
        )
