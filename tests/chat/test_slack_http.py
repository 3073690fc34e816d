"""HTTP mode: Slack's signed Events API requests at `POST /slack/events`."""

from __future__ import annotations

import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from agent.chat.slack import SlackBridge
from tests.chat.received import Received
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack

ALICE = "UALICE"


def _dm(text: str, ts: str = "1700000000.000100") -> dict[str, Any]:
    return {
        "type": "message",
        "user": ALICE,
        "text": text,
        "ts": ts,
        "channel": "D0001",
        "channel_type": "im",
    }


async def _post(bridge: SlackBridge, body: bytes, headers: dict[str, str]) -> httpx.Response:
    # Mounted as the service mounts it.
    app = Starlette(routes=[Route("/slack/events", bridge.starlette_endpoint(), methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        return await client.post("/slack/events", content=body, headers=headers)


async def test_a_signed_event_is_acked_and_delivered(
    http_bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    body, headers = fake_slack.signed_request(fake_slack.event_callback(_dm("what's running?")))

    response = await _post(http_bridge, body, headers)

    assert response.status_code == 200
    [message] = await received.wait_messages(1)
    assert (message.text, message.is_dm, message.channel) == ("what's running?", True, "D0001")


async def test_a_bad_signature_is_rejected_and_nothing_delivered(
    http_bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    body, headers = fake_slack.signed_request(
        fake_slack.event_callback(_dm("forged")), secret="not-the-secret"
    )

    response = await _post(http_bridge, body, headers)

    assert response.status_code == 401
    assert received.messages == []


async def test_a_stale_timestamp_is_rejected(
    http_bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    stale = int(time.time()) - 10 * 60  # Slack's window is five minutes
    body, headers = fake_slack.signed_request(
        fake_slack.event_callback(_dm("replayed")), timestamp=stale
    )

    response = await _post(http_bridge, body, headers)

    assert response.status_code == 401
    assert received.messages == []


async def test_an_http_retry_is_delivered_once(
    http_bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    payload = fake_slack.event_callback(_dm("once"))
    body, headers = fake_slack.signed_request(payload)
    assert (await _post(http_bridge, body, headers)).status_code == 200
    retry_headers = {**headers, "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    assert (await _post(http_bridge, body, retry_headers)).status_code == 200

    body, headers = fake_slack.signed_request(
        fake_slack.event_callback(_dm("sentinel", ts="1700000000.000200"))
    )
    assert (await _post(http_bridge, body, headers)).status_code == 200
    await received.wait_messages(2)
    assert [m.text for m in received.messages] == ["once", "sentinel"]


async def test_url_verification_is_answered(
    http_bridge: SlackBridge, fake_slack: FakeSlack
) -> None:
    body, headers = fake_slack.signed_request(
        {"token": "x", "challenge": "c-123", "type": "url_verification"}
    )

    response = await _post(http_bridge, body, headers)

    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}


async def test_the_ready_made_route_serves_the_same_endpoint(
    http_bridge: SlackBridge, fake_slack: FakeSlack, received: Received
) -> None:
    route = http_bridge.starlette_route()
    assert (route.path, route.methods) == ("/slack/events", {"POST"})
    body, headers = fake_slack.signed_request(fake_slack.event_callback(_dm("via route")))
    transport = httpx.ASGITransport(app=Starlette(routes=[route]))
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
        assert (
            await client.post("/slack/events", content=body, headers=headers)
        ).status_code == 200
    [message] = await received.wait_messages(1)
    assert message.text == "via route"


async def test_the_route_answers_503_until_started(fake_slack: FakeSlack) -> None:
    slack = SlackBridge(
        BOT_TOKEN, APP_TOKEN, signing_secret=SIGNING_SECRET, api_url=fake_slack.api_url, mode="http"
    )
    body, headers = fake_slack.signed_request(fake_slack.event_callback(_dm("too early")))

    response = await _post(slack, body, headers)

    assert response.status_code == 503
