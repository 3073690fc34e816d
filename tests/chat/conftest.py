"""A fake Slack on 127.0.0.1 and a SlackBridge connected to it over real Socket Mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from agent.chat.base import ButtonClick, IncomingMessage
from agent.chat.card import Card
from agent.chat.slack import SlackBridge
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack


@dataclass
class Received:
    """What the bridge handed to the service."""

    messages: list[IncomingMessage] = field(default_factory=list)
    clicks: list[ButtonClick] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: IncomingMessage) -> None:
        self.messages.append(message)
        self.changed.set()

    async def on_click(self, click: ButtonClick) -> None:
        self.clicks.append(click)
        self.changed.set()

    async def wait_messages(self, count: int, timeout: float = 5.0) -> list[IncomingMessage]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.messages

    async def wait_clicks(self, count: int, timeout: float = 5.0) -> list[ButtonClick]:
        async with asyncio.timeout(timeout):
            while len(self.clicks) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.clicks


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await asyncio.wait_for(fake.stop(), timeout=10)


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
async def bridge(fake_slack: FakeSlack, received: Received) -> AsyncIterator[SlackBridge]:
    slack = SlackBridge(BOT_TOKEN, APP_TOKEN, api_url=fake_slack.api_url)
    await asyncio.wait_for(slack.start(received.on_message, received.on_click), timeout=10)
    await fake_slack.wait_connected()
    try:
        yield slack
    finally:
        await asyncio.wait_for(slack.stop(), timeout=10)


@pytest.fixture
async def http_bridge(fake_slack: FakeSlack, received: Received) -> AsyncIterator[SlackBridge]:
    slack = SlackBridge(
        BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=fake_slack.api_url, mode="http"
    )
    await asyncio.wait_for(slack.start(received.on_message, received.on_click), timeout=10)
    try:
        yield slack
    finally:
        await asyncio.wait_for(slack.stop(), timeout=10)


def card(proposal: str = "P1", outcome: str | None = None) -> Card:
    """A proposal card as the supervisor builds it from the ledger."""
    return Card(
        proposal_id=proposal,
        title=f"Proposal {proposal} — git change",
        where="training · configs/train.yaml",
        reason="OOM at epoch 12",
        diff="-image_size: 1280\n+image_size: 640",
        expires="2026-11-28 08:00 UTC",
        replies=("yes", "kör på"),
        outcome=outcome,
    )
