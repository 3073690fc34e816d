"""`POST /hooks/training`: signed training events in, persisted before the 2xx.

Checks run cheapest first and a rejected request touches nothing: no inbox row,
no model token. Status codes: 202 accepted, 200 duplicate (a replay of a
persisted `webhook-id`), 400 bad body, 401 bad signature, 413 too large.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook
from starlette.requests import Request
from starlette.responses import JSONResponse

from agent import metrics
from agent.inbox import Inbox

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class IntakeRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class VerifiedEvent:
    webhook_id: str
    body: dict[str, Any]


def verify_event(secret: str, headers: Mapping[str, str], body: bytes) -> VerifiedEvent:
    """Verify a Standard Webhooks request and validate the event body."""
    missing = [h for h in SIGNATURE_HEADERS if not headers.get(h)]
    if missing:
        raise IntakeRejected(401, f"missing header(s): {', '.join(missing)}")
    try:
        # verify() checks the ±5 min timestamp window and the HMAC over the raw body,
        # then parses it: a JSON error here means the signature was good.
        event = Webhook(secret).verify(body, {h: headers[h] for h in SIGNATURE_HEADERS})
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeRejected(400, f"body is not JSON: {exc}") from None
    except Exception as exc:  # the library raises ValueError for some malformed headers
        raise IntakeRejected(401, f"signature verification failed: {exc}") from None
    if not isinstance(event, dict):
        raise IntakeRejected(400, "body must be a JSON object")
    bad = [f for f in ("type", "job") if not isinstance(event.get(f), str) or not event[f]]
    if bad:
        raise IntakeRejected(400, f"field(s) {', '.join(bad)} must be non-empty strings")
    return VerifiedEvent(webhook_id=headers["webhook-id"], body=event)


class TrainingHook:
    """The Starlette endpoint; the engine is poked after each accepted event."""

    def __init__(self, secret: str, inbox: Inbox, max_bytes: int, on_accepted: Any = None):
        self.secret = secret
        self.inbox = inbox
        self.max_bytes = max_bytes
        self.on_accepted = on_accepted

    async def handle(self, request: Request) -> JSONResponse:
        try:
            body = await self._read_body(request)
            event = verify_event(self.secret, request.headers, body)
        except IntakeRejected as exc:
            metrics.EVENTS_REJECTED.labels(reason=str(exc.status)).inc()
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        event_id, created = await self.inbox.put_event(event.webhook_id, event.body)
        if not created:
            metrics.EVENTS_REJECTED.labels(reason="duplicate").inc()
            return JSONResponse({"id": event_id, "duplicate": True}, status_code=200)
        metrics.EVENTS_ACCEPTED.inc()
        if self.on_accepted is not None:
            self.on_accepted()
        return JSONResponse({"id": event_id}, status_code=202)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise IntakeRejected(413, f"body larger than {self.max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise IntakeRejected(413, f"body larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
