"""Scheduled wake-ups: a tick into each active sweep's conversation, and a morning digest.

Code only schedules; the brief decides what to say (often nothing). Every
`tick_interval_s`, each active sweep gets one `tick` item in `sweep:<id>`, so
a stalled or silent trial is noticed even when no event arrives. Once a day,
at `digest_at` local time, one digest item per route opens `digest:<date>` (the
default route) or `digest:<route>:<date>`, listing the route's sweeps touched in
the last 24 h. Dedupe keys carry the interval slot or the
date, so a restart, or two passes in one slot, never queue a second one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from datetime import time as clock_time
from pathlib import Path

from agent.engine.inbox import Inbox
from core.routes import Routes
from mcp_servers.registry import sweep_records
from mcp_servers.sweep_views import SweepRecord

log = logging.getLogger(__name__)

DIGEST_WINDOW = timedelta(hours=1)  # a digest missed by more (service down) is skipped
DAY_S = 24 * 3600


class Schedule:
    def __init__(
        self,
        inbox: Inbox,
        state_dir: Path,
        wake: Callable[[], None],
        *,
        tick_interval_s: float | None,
        digest_at: clock_time | None,
        zone: tzinfo,
        clock: Callable[[], float] = time.time,
        poll_s: float = 30.0,
        routes: Routes | None = None,
    ) -> None:
        self.inbox = inbox
        self.state_dir = state_dir
        self.wake = wake
        self.tick_interval_s = tick_interval_s
        self.digest_at = digest_at
        self.zone = zone
        self.clock = clock
        self.poll_s = poll_s
        self.routes = routes or Routes()  # one digest per route, in its own channel

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a bad pass must not end the schedule
                log.exception("schedule pass failed")
            await asyncio.sleep(self.poll_s)

    async def run_once(self) -> list[str]:
        """One pass; returns the conversations that got a new item."""
        now = self.clock()
        sweeps = await asyncio.to_thread(sweep_records, self.state_dir)
        queued = [c for c in await self._ticks(now, sweeps) + await self._digest(now, sweeps) if c]
        if queued:
            self.wake()
        return queued

    async def _ticks(self, now: float, sweeps: list[SweepRecord]) -> list[str]:
        if not self.tick_interval_s:
            return []
        slot = int(now // self.tick_interval_s)
        slot_start = slot * self.tick_interval_s
        queued = []
        minutes = self.tick_interval_s / 60
        for sweep in sweeps:
            # The first check comes one interval after the sweep started, not at once.
            if sweep.status != "active" or sweep.created >= slot_start:
                continue
            conversation = f"sweep:{sweep.id}"
            _, created = await self.inbox.put(
                "tick",
                f"{conversation}:{slot}",
                conversation,
                {"text": f"scheduled check of sweep {sweep.id} (every {minutes:g} min)"},
            )
            if created:
                queued.append(conversation)
        return queued

    async def _digest(self, now: float, sweeps: list[SweepRecord]) -> list[str]:
        if self.digest_at is None:
            return []
        local = datetime.fromtimestamp(now, self.zone)
        due = datetime.combine(local.date(), self.digest_at, tzinfo=self.zone)
        if not due <= local < due + DIGEST_WINDOW:
            return []
        recent = [s for s in sweeps if s.status == "active" or s.updated > now - DAY_S]
        queued = []
        for route in self.routes.all:
            ids = [
                s.id
                for s in recent
                if self.routes.for_job(str(s.spec.get("base_job_name") or "")) is route
            ]
            # The default route keeps the plain key, so a site without routes sees no change.
            name = "" if route is self.routes.default else f"{route.name}:"
            conversation = f"digest:{name}{local.date().isoformat()}"
            text = (
                f"morning digest for {local:%Y-%m-%d} ({self.digest_at:%H:%M} {self.zone}):"
                f" summarise the night. Sweeps active in the last 24 h: {', '.join(ids) or 'none'}"
            )
            _, created = await self.inbox.put(
                "tick", conversation, conversation, {"text": text, "sweeps": ids}
            )
            if created:
                queued.append(conversation)
        return queued
