"""The webhook's bad-input matrix against the real app and a real inbox.

Each rejected request must get its documented status and leave the inbox
untouched. (The same matrix runs against the whole service, with a scripted
model counting requests, in test_service_e2e.py.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from agent.engine.db import Database
from agent.engine.inbox import Inbox
from agent.intake.webhook import Signers, TrainingHook
from agent.service.app import build_app
from agent.settings import new_webhook_secret

SECRET = new_webhook_secret()


def signed(
    body: bytes, msg_id: str = "msg_1", secret: str = SECRET, when: datetime | None = None
) -> dict[str, str]:
    when = when or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode("latin-1")),
        "content-type": "application/json",
    }


@contextlib.asynccontextmanager
async def webhook(
    tmp_path: Path, secret: str | Signers = SECRET
) -> AsyncIterator[tuple[httpx.AsyncClient, Inbox]]:
    """The real app and a real inbox; a client that talks to it in-process."""
    db = Database(tmp_path / "s.sqlite")
    await db.open()
    inbox = Inbox(db)
    await inbox.start()

    async def ready() -> dict[str, bool]:
        return {"opencode": True}

    app = build_app(TrainingHook(secret, inbox, 256 * 1024), ready)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, inbox
    finally:
        await inbox.stop()
        await db.close()


@pytest.fixture
async def hook(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Inbox]]:
    async with webhook(tmp_path) as served:
        yield served


GOOD = json.dumps({"type": "crashed", "job": "cust/pcb", "traceback": "boom"}).encode()


async def test_valid_event_is_accepted_and_persisted(hook) -> None:
    client, inbox = hook
    r = await client.post("/hooks/training", content=GOOD, headers=signed(GOOD))
    assert r.status_code == 202, r.text
    assert isinstance(r.json()["id"], int)
    items = await inbox.lease("job:cust/pcb")
    assert items[0].payload["traceback"] == "boom"


async def test_replayed_id_answers_duplicate_and_queues_nothing_more(hook) -> None:
    client, inbox = hook
    first = await client.post("/hooks/training", content=GOOD, headers=signed(GOOD))
    again = await client.post("/hooks/training", content=GOOD, headers=signed(GOOD))
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    assert await inbox.depth() == 1


def _tamper_signature(h: dict[str, str]) -> dict[str, str]:
    return {**h, "webhook-signature": "v1,AAAA" + h["webhook-signature"][7:]}


BAD_CASES = {
    "wrong secret": (GOOD, lambda: signed(GOOD, secret=new_webhook_secret()), 401),
    "stale timestamp": (
        GOOD,
        lambda: signed(GOOD, when=datetime.now(UTC) - timedelta(minutes=10)),
        401,
    ),
    "missing headers": (GOOD, lambda: {"content-type": "application/json"}, 401),
    "malformed signature header": (
        GOOD,
        lambda: {**signed(GOOD), "webhook-signature": "garbage-without-comma"},
        401,
    ),
    "tampered signature": (GOOD, lambda: _tamper_signature(signed(GOOD)), 401),
    "non-JSON": (b"not json {", lambda: signed(b"not json {"), 400),
    "JSON array": (b"[1, 2]", lambda: signed(b"[1, 2]"), 400),
    "missing job": (b'{"type": "epoch"}', lambda: signed(b'{"type": "epoch"}'), 400),
    "job not a string": (
        b'{"type": "epoch", "job": 7}',
        lambda: signed(b'{"type": "epoch", "job": 7}'),
        400,
    ),
    "300 KiB body": (
        json.dumps({"type": "epoch", "job": "a", "pad": "x" * 300 * 1024}).encode(),
        None,
        413,
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
async def test_bad_input_gets_its_status_and_queues_nothing(hook, case: str) -> None:
    client, inbox = hook
    body, headers, status = BAD_CASES[case]
    r = await client.post(
        "/hooks/training", content=body, headers=headers() if headers else signed(body)
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]  # a reason, for the person wiring up a training script
    assert await inbox.depth() == 0


async def test_health_and_metrics(hook) -> None:
    client, _ = hook
    assert (await client.get("/healthz")).json() == {"ok": True}
    assert (await client.get("/readyz")).status_code == 200
    body = (await client.get("/metrics")).text
    assert "mlops_events_accepted_total" in body
