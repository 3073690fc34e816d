"""What a chat bridge handed to the service, recorded for the Slack and Matrix bridge tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent.chat.base import ButtonClick, IncomingMessage


@dataclass
class Received:
    messages: list[IncomingMessage] = field(default_factory=list)
    clicks: list[ButtonClick] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: IncomingMessage) -> None:
        self.messages.append(message)
        self.changed.set()

    async def on_click(self, click: ButtonClick) -> None:
        self.clicks.append(click)
        self.changed.set()

    async def wait(self, messages: int = 0, clicks: int = 0, timeout: float = 30.0) -> None:
        """Until at least this many messages and clicks have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < messages or len(self.clicks) < clicks:
                self.changed.clear()
                await self.changed.wait()

    async def wait_messages(self, count: int, timeout: float = 5.0) -> list[IncomingMessage]:
        await self.wait(messages=count, timeout=timeout)
        return self.messages

    async def wait_clicks(self, count: int, timeout: float = 5.0) -> list[ButtonClick]:
        await self.wait(clicks=count, timeout=timeout)
        return self.clicks

    async def settle(self, seconds: float = 1.5) -> None:
        """Give a round trip time to deliver something that must not come."""
        await asyncio.sleep(seconds)
