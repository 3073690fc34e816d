"""One opencode process kept alive: started with its skills and its warm-up turn, watched,
and started again whenever it exits unasked (with backoff while a start fails).

`up` is set while a started process serves; `exited` is set once that process has died
(a new event per start, so a turn holds the one of the process it talks to)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from agent import metrics
from agent.opencode.client import OpencodeClient
from agent.opencode.errors import OpencodeError, OpencodeUnavailable
from agent.opencode.process import OpencodeProcess
from agent.opencode.skills import SkillKeeper
from agent.opencode.warmup import WarmUp

# The runtime's logger: its log lines read as they did before it was split into parts.
log = logging.getLogger("agent.opencode.runtime")

_RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class OpencodeLifecycle:
    def __init__(self, process: OpencodeProcess, skills: SkillKeeper, warm_up: WarmUp) -> None:
        self.process = process
        self.skills = skills
        self.warm_up = warm_up
        self.client: OpencodeClient | None = None
        self.up = asyncio.Event()
        self.exited = asyncio.Event()
        self.restarts = 0
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start opencode; raises OpencodeStartError if it does not come up."""
        self._stopping = False
        await self.warm_up.open()
        await self._launch()
        self._watch_from_now()

    async def restart(self, reason: str, detail: str) -> None:
        """Stop the running process and start a new one (counted under `reason`)."""
        log.warning("restarting opencode between turns: %s", detail)
        self.up.clear()
        await self._stop_watcher()
        await self.process.stop()
        await self._relaunch(reason)
        self._watch_from_now()

    async def stop(self) -> None:
        self._stopping = True
        self.up.clear()
        await self.warm_up.cancel_prefill()
        await self._stop_watcher()
        await self.process.stop()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        await self.warm_up.close()

    async def connected(self, deadline: float) -> OpencodeClient:
        """The client of a running opencode, waiting for a restart until `deadline`."""
        try:
            await asyncio.wait_for(self.up.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise OpencodeUnavailable("opencode is not running (restarting?)") from None
        assert self.client is not None
        return self.client

    async def _launch(self) -> None:
        url = await self.process.start()
        if self.client is not None:
            await self.client.aclose()
        self.client = OpencodeClient(url, self.process.password)
        self.exited = asyncio.Event()
        await self.skills.start_all(self.client)
        await self.warm_up.run(self.client)
        self.up.set()

    def _watch_from_now(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name="opencode-watcher")

    async def _watch(self) -> None:
        while True:
            code = await self.process.wait()
            self.up.clear()
            self.exited.set()
            if self._stopping:
                return
            log.error("opencode exited with %s; restarting\n%s", code, self.process.output_tail())
            # Reap what the dead process left in its group (its MCP servers).
            await self.process.stop()
            await self._relaunch("exited")

    async def _relaunch(self, reason: str) -> None:
        """Start opencode again, retrying with backoff until it is up (or we stop)."""
        failures = 0
        while not self._stopping:
            try:
                await self._launch()
            except OpencodeError as exc:
                delay = _RESTART_BACKOFF_S[min(failures, len(_RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.error("opencode restart failed (%s); next try in %s s", exc, delay)
                await asyncio.sleep(delay)
                continue
            self.restarts += 1
            metrics.OPENCODE_RESTARTS.labels(reason=reason).inc()
            return

    async def _stop_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
