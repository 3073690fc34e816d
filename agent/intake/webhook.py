"""`POST /hooks/training`: signed training events in, persisted before the 2xx.

Checks run cheapest first and a rejected request touches nothing: no inbox row,
no model token. Status codes: 202 accepted, 200 duplicate (a replay of a
persisted `webhook-id`), 400 bad body, 401 bad signature, 403 signed with the
secret of another route than the job's, 413 too large.

A site with routes may give each route its own secret (`core.webhook_secrets`):
the job an event names decides which secret must have signed it, so one
customer's training code cannot post into another customer's threads.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook
from starlette.requests import Request
from starlette.responses import JSONResponse

from agent import metrics
from agent.engine.inbox import Inbox
from core.routes import Routes
from core.webhook_secrets import all_secrets, job_webhook_secret

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
MAX_NAME_CHARS = 256  # a job's name or an event's type


class IntakeRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class VerifiedEvent:
    webhook_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Signers:
    """Which secret must have signed an event: its job's route's, else the site's."""

    site: str
    routes: Routes | None = None
    sweep_base_job: Callable[[str], str | None] = field(default=lambda _: None)

    def expected(self, claimed: Any) -> str:
        """The secret for the job the (still unverified) body names; the site's when it
        names none: it is refused below either way."""
        if self.routes is None or not isinstance(claimed, dict):
            return self.site
        job, labels = claimed.get("job"), claimed.get("labels")
        if not isinstance(job, str):
            return self.site
        found = job_webhook_secret(self.routes, self.site, job, labels, self.sweep_base_job)
        return found or self.site

    def others(self, expected: str) -> list[str]:
        everyone = all_secrets(self.routes, self.site) if self.routes else [self.site]
        return [s for s in everyone if s != expected]


def verify_event(secret: str | Signers, headers: Mapping[str, str], body: bytes) -> VerifiedEvent:
    """Verify a Standard Webhooks request and validate the event body."""
    signers = secret if isinstance(secret, Signers) else Signers(secret)
    missing = [h for h in SIGNATURE_HEADERS if not headers.get(h)]
    if missing:
        raise IntakeRejected(401, f"missing header(s): {', '.join(missing)}")
    signed = {h: headers[h] for h in SIGNATURE_HEADERS}
    expected = signers.expected(_unverified(body))
    try:
        # verify() checks the ±5 min timestamp window and the HMAC over the raw body,
        # then parses it: a JSON error here means the signature was good.
        event = Webhook(expected).verify(body, signed)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeRejected(400, f"body is not JSON: {exc}") from None
    except Exception as exc:  # the library raises ValueError for some malformed headers
        if any(_signs(other, body, signed) for other in signers.others(expected)):
            # A valid signature, by a secret this job may not use: another route's (or the
            # site's, for a route that has its own).
            raise IntakeRejected(
                403, "signed with a secret that is not the secret of this job's route"
            ) from None
        raise IntakeRejected(401, f"signature verification failed: {exc}") from None
    if not isinstance(event, dict):
        raise IntakeRejected(400, "body must be a JSON object")
    bad = [f for f in ("type", "job") if not _is_name(event.get(f))]
    if bad:
        raise IntakeRejected(
            400,
            f"field(s) {', '.join(bad)} must be non-empty strings of at most {MAX_NAME_CHARS}"
            " characters, without control characters or line breaks",
        )
    return VerifiedEvent(webhook_id=headers["webhook-id"], body=event)


def _unverified(body: bytes) -> Any:
    """The body parsed only to find which secret must have signed it (trusted after that)."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


def _signs(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True  # the signature held; the body is not JSON
    except Exception:
        return False
    return True


def _is_name(value: object) -> bool:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        return False
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


class TrainingHook:
    """The Starlette endpoint; the engine is poked after each accepted event."""

    def __init__(
        self, secret: str | Signers, inbox: Inbox, max_bytes: int, on_accepted: Any = None
    ):
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
