"""The long-poll sync loop: each batch handed over (`Incoming`), then its position stored.

A stop waits for a batch being handed over, so a batch is either handled and stored
or comes again after the restart (the inbox dedupes it)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nio import SyncResponse

from agent.chat.matrix.incoming import Incoming
from agent.chat.matrix.session import Connection, call

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


class SyncLoop:
    def __init__(
        self, connection: Connection, incoming: Incoming, *, timeout_ms: int, timeline_limit: int
    ) -> None:
        self._connection = connection
        self._incoming = incoming
        self._timeout_ms = timeout_ms
        self._filter = sync_filter(timeline_limit)
        self._since: str | None = None
        self._task: asyncio.Task[None] | None = None
        # Held from a batch's hand-over to the stored position: a stop waits for it.
        self._batch = asyncio.Lock()

    async def start(self) -> None:
        self._since = await self._connection.require_store().next_batch()
        if self._since is None:
            # First start: what the rooms hold is history, not talk to answer now.
            response = await self._sync(timeout_ms=_unique_initial_timeout_ms())
            await self._incoming.handle(response, history=True, since=self._since)
            await self._advance(response.next_batch)
        self._task = asyncio.create_task(self._forever(), name="matrix-sync")

    async def stop(self) -> None:
        if self._task is not None:
            # A batch half handed over would come again after the restart: let it finish,
            # then cut the long poll.
            async with self._batch:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _forever(self) -> None:
        backoff = 1.0
        while True:
            try:
                response = await self._sync(self._timeout_ms)
                async with self._batch:
                    await self._incoming.handle(response, history=False, since=self._since)
                    await self._advance(response.next_batch)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep syncing: the homeserver may be restarting
                log.warning("Matrix sync failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _sync(self, timeout_ms: int) -> SyncResponse:
        client = self._connection.require_client()
        response = await call(
            "sync",
            lambda: client.sync(timeout=timeout_ms, since=self._since, sync_filter=self._filter),
        )
        assert isinstance(response, SyncResponse)
        return response

    async def _advance(self, token: str) -> None:
        self._since = token
        await self._connection.require_store().set_next_batch(token)


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """What the bridge asks each sync for: room timelines and invites, nothing else."""
    return {
        "room": {
            "timeline": {"limit": timeline_limit},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
        "presence": {"types": []},
        "account_data": {"types": []},
    }


def _unique_initial_timeout_ms() -> int:
    """A timeout for the first sync that no earlier start used.

    Synapse keeps a sync response for two minutes, keyed by device, position,
    filter and timeout. A first start soon after another on the same device (a
    state dir wiped and started again) would get that older answer, and its
    position, and then take everything said since as new. Synapse answers an
    initial sync at once whatever its timeout; a server that waits waits < 1 s.
    """
    return 1 + time.time_ns() // 1_000_000 % 999
