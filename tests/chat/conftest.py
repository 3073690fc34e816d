"""A fake Slack on 127.0.0.1 and a SlackBridge connected to it over real Socket Mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.chat.card import Card
from agent.chat.slack import SlackBridge
from tests.chat.received import Received
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack


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
