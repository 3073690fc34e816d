"""Watch the model endpoint: pause turns while it is down, tell people once.

One plain operational notice when it has been unreachable for longer than the
grace period, one when it is back. Events wait in the inbox meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Pausable(Protocol):
    paused: bool

    def wake(self) -> None: ...


class ModelWatch:
    def __init__(
        self,
        *,
        reachable: Callable[[], Awaitable[bool]],
        notice: Callable[[str], Awaitable[None]],
        engine: Pausable,
        grace_s: float,
        endpoint: str,
        interval_s: float = 2.0,
    ) -> None:
        self.reachable = reachable
        self.notice = notice
        self.engine = engine
        self.grace_s = grace_s
        self.endpoint = endpoint
        self.interval_s = interval_s
        self.down_since: float | None = None
        self.notified = False

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("model watch check failed")
            await asyncio.sleep(self.interval_s)

    async def check(self) -> None:
        up = await self.reachable()
        now = time.monotonic()
        if up:
            if self.notified:
                await self.notice(
                    f"Model endpoint {self.endpoint} is reachable again; "
                    "waiting events are being processed."
                )
            self.down_since, self.notified = None, False
            if self.engine.paused:
                self.engine.paused = False
                self.engine.wake()
            return
        if self.down_since is None:
            self.down_since = now
        self.engine.paused = True
        if not self.notified and now - self.down_since >= self.grace_s:
            minutes = (now - self.down_since) / 60
            await self.notice(
                f"Model endpoint {self.endpoint} unreachable for {minutes:.0f} min; "
                "training events are queued and will be handled when it is back."
            )
            self.notified = True
