"""An in-process chat bridge (`agent.chat.base.ChatBridge`) that records what the bot did.

For unit tests of the supervisor's side; the Slack bridge itself is tested
against `tests/fakes/slack.py`. Set `failing` to make every post, update and
upload raise `ChatDown`, as a bridge does when its chat service is unreachable.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.chat.base import ClickHandler, MessageHandler


class ChatDown(ConnectionError):
    pass


@dataclass(frozen=True)
class ChatPost:
    kind: str  # "post" | "update" | "upload"
    channel: str
    ts: str
    text: str = ""
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    path: Path | None = None


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
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        await self._network()
        ts = f"{next(self._ts)}.000100"
        self.posts.append(ChatPost("post", channel, ts, text, thread_ts, blocks))
        return ts

    async def update(
        self, channel: str, ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        await self._network()
        self.posts.append(ChatPost("update", channel, ts, text, blocks=blocks))

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
