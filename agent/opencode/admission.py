"""Which turns may talk to opencode now: all of them, except while a restart between turns
waits for the ones in flight to finish (later ones wait for it at the door)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from agent.opencode.errors import OpencodeUnavailable


class TurnAdmission:
    def __init__(self) -> None:
        self._admit = asyncio.Event()  # cleared while a restart waits for turns to finish
        self._admit.set()
        self._drained = asyncio.Event()  # set while no turn is in flight
        self._drained.set()
        self._in_flight = 0

    @contextlib.asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[None]:
        """Count a call as in flight; wait first while a between-turns restart is pending."""
        try:
            await asyncio.wait_for(self._admit.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise OpencodeUnavailable("opencode is restarting between turns") from None
        self._in_flight += 1
        self._drained.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._drained.set()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold new calls at the door and enter once the calls in flight have finished."""
        self._admit.clear()
        try:
            await self._drained.wait()
            yield
        finally:
            self._admit.set()
