"""The harness's chat: a `ChatBridge` that records what the service posts and plays
people's messages and clicks into it.

It stands where Slack would, behind the same interface, so the service's own
intake (allowlist, threads, confirmations) handles everything the scenario's
people say. Timestamps are Slack-like strings that only ever increase.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.chat.base import ButtonClick, ClickHandler, IncomingMessage, MessageHandler
from agent.chat.card import Card
from agent.chat.slack_safety import safe_text
from evals.clip import clip


@dataclass(frozen=True)
class Post:
    kind: str  # post | update | upload
    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    card: Card | None = None
    file_name: str | None = None
    file_size: int | None = None
    at: float = field(default_factory=time.time)

    @property
    def card_proposal(self) -> str | None:
        """The proposal id of an open card (one still waiting for approval) on this post."""
        if self.card is None or self.card.outcome is not None:
            return None
        return self.card.proposal_id

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "channel": self.channel, "ts": self.ts}
        out["thread_ts"] = self.thread_ts
        # The results file keeps the start of a huge post; the checks saw all of it.
        out["text"] = clip(self.text)
        if self.card_proposal:
            out["card"] = self.card_proposal
        if self.file_name:
            out["file"] = {"name": self.file_name, "bytes": self.file_size}
        return out


class RecordingBridge:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self._on_message: MessageHandler | None = None
        self._on_click: ClickHandler | None = None
        self._clock = itertools.count(1)
        self._epoch = int(time.time())

    def new_ts(self) -> str:
        return f"{self._epoch}.{next(self._clock):06d}"

    # -- ChatBridge ------------------------------------------------------------------

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
        ts = self.new_ts()
        self.posts.append(Post("post", channel, ts, text, thread_ts, card))
        return ts

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        self.posts.append(Post("update", channel, ts, text, None, card))

    def safe(self, text: str, mentionable: Container[str]) -> str:
        # Sanitised as Slack is: the harness's chat stands where Slack would.
        return safe_text(text, mentionable)

    def mention(self, user: str) -> str:
        return f"<@{user}>"  # people are Slack-like ids in scenarios

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        size = path.stat().st_size if path.exists() else None
        self.posts.append(
            Post(
                "upload",
                channel,
                self.new_ts(),
                title or path.name,
                thread_ts,
                None,
                path.name,
                size,
            )
        )

    # -- people ----------------------------------------------------------------------

    async def say(
        self, user: str, text: str, channel: str, thread_ts: str | None, is_dm: bool
    ) -> IncomingMessage:
        """A person writes; returns once the service has taken (or dropped) the message."""
        assert self._on_message is not None, "the service has not started the bridge"
        message = IncomingMessage(channel, self.new_ts(), user, text, thread_ts, is_dm)
        await self._on_message(message)
        return message

    async def click(self, user: str, action: str, card: Post) -> None:
        assert self._on_click is not None, "the service has not started the bridge"
        proposal = card.card_proposal
        assert proposal is not None, "not a proposal card"
        await self._on_click(
            ButtonClick(action, proposal, user, card.channel, card.ts, card.thread_ts)
        )
