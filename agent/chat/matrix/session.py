"""The bot's Matrix session: one nio client, logged in, whose calls fail loudly.

nio sleeps silently for as long as a 429 says (minutes, if the homeserver is
strict) and retries a dropped connection forever; here both are turned off
(`max_limit_exceeded=0`, `max_timeouts=0`) and handled in `call`: a rate limit
is waited out a few times, bounded, with a log line; anything else raises
`MatrixBridgeError` naming the call, so a failed post fails its turn (which
is retried) instead of hanging it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from nio import AsyncClient, AsyncClientConfig, ErrorResponse, LoginResponse, WhoamiResponse

from agent.chat.matrix.store import MatrixStore, StoredSession

log = logging.getLogger(__name__)

T = TypeVar("T")

RATE_LIMIT_RETRIES = 5
MAX_RATE_LIMIT_WAIT_S = 30.0
DEVICE_NAME = "mlops-agent"


class MatrixBridgeError(Exception):
    """The homeserver refused a call or the bridge is misconfigured; the message says which.
    `errcode` is the homeserver's (`M_NOT_FOUND`…) when it answered with one."""

    def __init__(self, message: str, errcode: str | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


def new_client(homeserver: str, user_id: str, request_timeout_s: float = 60.0) -> AsyncClient:
    config = AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=0,
        encryption_enabled=False,
        store_sync_tokens=False,
        request_timeout=request_timeout_s,
    )
    return AsyncClient(homeserver, user_id, config=config)


async def call(what: str, make: Callable[[], Awaitable[T]]) -> T:
    """`make()` once, again after each rate limit (bounded); an error response raises."""
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            response = await make()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise MatrixBridgeError(f"Matrix {what} failed: {type(exc).__name__}: {exc}") from exc
        error = _error_of(response)
        if error is None:
            return response
        if error.status_code == "M_LIMIT_EXCEEDED" and attempt < RATE_LIMIT_RETRIES:
            wait = min(max((error.retry_after_ms or 1000) / 1000, 0.05), MAX_RATE_LIMIT_WAIT_S)
            log.warning("Matrix %s rate-limited; retrying in %.1f s", what, wait)
            await asyncio.sleep(wait)
            continue
        raise MatrixBridgeError(
            f"Matrix {what} failed: {error.status_code} {error.message}", error.status_code
        )
    raise AssertionError("unreachable")


def _error_of(response: Any) -> ErrorResponse | None:
    # upload() answers (response, decryption keys)
    first = response[0] if isinstance(response, tuple) else response
    return first if isinstance(first, ErrorResponse) else None


async def log_in(
    client: AsyncClient, store: MatrixStore, *, access_token: str | None, password: str | None
) -> str:
    """Log the client in; returns its device id. A password login's device is kept in the
    store and reused (a restart must not add a device each time)."""
    user_id = client.user_id
    if access_token:
        return await _use_token(client, access_token, "MATRIX_ACCESS_TOKEN")
    if not password:
        raise MatrixBridgeError("set MATRIX_ACCESS_TOKEN (or _FILE) or MATRIX_PASSWORD")
    stored = await store.session(user_id)
    if stored is not None:
        try:
            return await _use_token(client, stored.access_token, "the stored session")
        except MatrixBridgeError as exc:
            log.warning("%s; logging in again with MATRIX_PASSWORD", exc)
    if stored is not None:
        client.device_id = stored.device_id  # nio logs in as its own device id, if it has one
    response = await call("login", lambda: client.login(password, device_name=DEVICE_NAME))
    assert isinstance(response, LoginResponse)
    await store.set_session(StoredSession(user_id, response.device_id, response.access_token))
    return str(response.device_id)


async def _use_token(client: AsyncClient, token: str, source: str) -> str:
    client.access_token = token
    try:
        who = await call("whoami", client.whoami)
    except MatrixBridgeError as exc:
        raise MatrixBridgeError(f"{source} was refused by {client.homeserver}: {exc}") from exc
    assert isinstance(who, WhoamiResponse)
    if who.user_id != client.user_id:
        raise MatrixBridgeError(
            f"{source} belongs to {who.user_id}, not MATRIX_USER_ID={client.user_id}"
        )
    client.device_id = who.device_id or client.device_id
    return str(client.device_id)


class Connection:
    """The logged-in client and the bridge's store, shared by its parts; absent until
    connected (and again after a stop), which every use reports as an error."""

    def __init__(self) -> None:
        self.client: AsyncClient | None = None
        self.store: MatrixStore | None = None

    def require_client(self) -> AsyncClient:
        if self.client is None:
            raise MatrixBridgeError("the Matrix bridge is not connected yet")
        return self.client

    def require_store(self) -> MatrixStore:
        assert self.store is not None, "the Matrix bridge is not connected yet"
        return self.store
