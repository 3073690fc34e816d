"""An in-process chat bridge (`agent.chat.base.ChatBridge`) that records what the bot did.

For unit tests of the supervisor's side; the Slack bridge itself is tested
against `tests/fakes/slack.py`. Set `failing` to make every post, update and
upload raise `ChatDown`, as a bridge does when its chat service is unreachable.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.chat.base import ClickHandler, MessageHandler
from agent.chat.card import Card
from agent.chat.slack_blocks import card_blocks
from agent.chat.slack_safety import safe_text


class ChatDown(ConnectionError):
    pass


@dataclass(frozen=True)
class ChatPost:
    kind: str  # "post" | "update" | "upload"
    channel: str
    ts: str
    text: str = ""
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None  # a card, drawn as the Slack bridge draws it
    path: Path | None = None
    card: Card | None = None


class RecordingChat:
    def __init__(self) -> None:
        self.posts: list[ChatPost] = []
        self.failing = False
        self.on_message: MessageHandler | None = None
        self.on_click: ClickHandler | None = None
        self._ts = itertools.count(1)

    async def start(self, on_message: MessageHandler, on_click: ClickHandler) -> None:
        self.on_message, self.on_click = on_message, on_click

    async def stop(self) -> None:
        return None

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        card: Card | None = None,
    ) -> str:
        await self._network()
        ts = f"{next(self._ts)}.000100"
        self.posts.append(ChatPost("post", channel, ts, text, thread_ts, _drawn(card), card=card))
        return ts

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        await self._network()
        self.posts.append(ChatPost("update", channel, ts, text, blocks=_drawn(card), card=card))

    def mention(self, user: str) -> str:
        return f"<@{user}>"

    def safe(self, text: str, mentionable: Container[str]) -> str:
        # Sanitised as Slack is: this chat stands in for Slack (its mentions, its cards).
        return safe_text(text, mentionable)

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        await self._network()
        ts = f"{next(self._ts)}.000100"
        self.posts.append(ChatPost("upload", channel, ts, title or "", thread_ts, path=path))

    def of_kind(self, kind: str) -> list[ChatPost]:
        return [p for p in self.posts if p.kind == kind]

    async def _network(self) -> None:
        await asyncio.sleep(0)  # a real bridge awaits the network: let others run meanwhile
        if self.failing:
            raise ChatDown("chat is unreachable")


def _drawn(card: Card | None) -> list[dict[str, Any]] | None:
    return card_blocks(card) if card is not None else None
