"""One signed POST of one event, with only the standard library and `standardwebhooks`.

The outcome says what the sender should do next, not what went wrong in detail:
`SENT`, `RETRY` (unreachable, timeout, 408, 429, 5xx) or `REJECTED` (any other status:
sending the same bytes again would be refused again).
"""

from __future__ import annotations

import enum
import http.client
import math
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

USER_AGENT = "mlops-reporter/0.1"
_RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    status: int | None  # HTTP status, None when no response came back
    detail: str  # the error or the start of the response body


def new_message_id() -> str:
    """A fresh `webhook-id`; the service dedupes on it, so a replay must reuse it."""
    return "msg_" + uuid.uuid4().hex


def signed_headers(webhook: Webhook, msg_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers, signed now: a spooled event gets a fresh timestamp."""
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(now.timestamp())),
        "webhook-signature": webhook.sign(msg_id, now, body),
    }


def post_event(
    endpoint: str, webhook: Webhook, msg_id: str, body: str, timeout_s: float = 5.0
) -> Delivery:
    """POST `body` (a JSON text) to `endpoint`, signed; never raises for network trouble."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(webhook, msg_id, body),
    }
    request = urllib.request.Request(endpoint, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Delivery(Outcome.SENT, response.status, "")
    except urllib.error.HTTPError as err:
        detail = _read_start(err)
        retry = err.code in _RETRYABLE_CLIENT_STATUSES or err.code >= 500
        return Delivery(Outcome.RETRY if retry else Outcome.REJECTED, err.code, detail)
    except (OSError, http.client.HTTPException, ValueError) as err:
        # URLError, refused, reset, timeout, a garbled response: the agent may come back.
        return Delivery(Outcome.RETRY, None, f"{type(err).__name__}: {err}")


def _read_start(err: urllib.error.HTTPError) -> str:
    try:
        return err.read(500).decode(errors="replace").strip()
    except Exception:
        return ""
    finally:
        err.close()
