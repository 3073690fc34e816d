"""Training events into the service the way a job sends them: signed POSTs to its webhook."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook


async def post_events(url: str, secret: str, events: list[dict[str, Any]]) -> list[httpx.Response]:
    """All at once, as a reporter flushing its spool would."""
    async with httpx.AsyncClient(timeout=30) as http:
        return list(await asyncio.gather(*(_post(http, url, secret, e) for e in events)))


async def _post(
    http: httpx.AsyncClient, url: str, secret: str, event: dict[str, Any]
) -> httpx.Response:
    body = json.dumps(event)
    msg_id = "msg_" + uuid.uuid4().hex
    now = datetime.now(UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "content-type": "application/json",
    }
    return await http.post(f"{url}/hooks/training", content=body, headers=headers)
