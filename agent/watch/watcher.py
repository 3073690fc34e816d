"""The watch passes: every `interval_s`, one snapshot of the scheduler, facts into the inbox.

Code observes; the brief decides. A pass asks the aiqu watch process for the
watched jobs (those that reported, those started through aiqu, those matching
`MLOPS_WATCH_JOBS`, and the attempts it follows), reads each one's latest
events from the inbox, and files each new fact as a `watch` item in the job's
conversation (a sweep trial's in its sweep's), where it starts a turn like an
event does. A scheduler that cannot be read is logged and tried again next
pass; nothing is filed about it.

Time is read through one clock (`clock`), never `time.time()` directly, so a
scenario clock can drive the passes (issue 24's virtual clock wires in here).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from agent.engine.db import Database
from agent.engine.inbox import Inbox
from agent.watch import memory
from agent.watch.facts import Fact, JobSeen, WatchConfig, observe
from agent.watch.probe import ProbeError, SchedulerProbe

log = logging.getLogger(__name__)

REPORTED_WINDOW_S = 30 * 24 * 3600  # a job that reported in the last 30 days stays watched
SINCE_SLACK_S = 300.0  # ends a little before the last pass are asked for again (clock skew)


class Watcher:
    def __init__(
        self,
        inbox: Inbox,
        db: Database,
        probe: SchedulerProbe,
        config: WatchConfig,
        *,
        wake: Callable[[], None],
        interval_s: float | None = 60.0,
        globs: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        floor: float | None = None,
    ) -> None:
        """`floor`: when watching began for this caller (an eval run's own start): ends
        before it are not asked about, and the grace of those after counts from it."""
        self.inbox = inbox
        self.db = db
        self.probe = probe
        self.config = config
        self.wake = wake
        self.interval_s = interval_s
        self.globs = tuple(globs)
        self.clock = clock
        self.floor = floor
        # Ends before this get their grace counted from here.
        self.started = floor if floor is not None else clock()
        self._failing = False
        self._tables = False

    async def run(self) -> None:
        """A pass now, then one every interval, until cancelled."""
        assert self.interval_s, "the watcher is off (MLOPS_WATCH_INTERVAL_S unset)"
        while True:
            try:
                await self.run_once()
            except ProbeError as exc:
                # Said once per outage, not every minute.
                if not self._failing:
                    log.warning("scheduler watch: cannot read the scheduler: %s", exc)
                self._failing = True
            except Exception:  # a bad pass must not end the watching
                log.exception("scheduler watch pass failed")
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> list[str]:
        """One pass; returns the conversations that got a new item."""
        now = self.clock()
        if not self._tables:
            await self.db.run(memory.create)
            self._tables = True
        known = await self.db.run(memory.remember, now - REPORTED_WINDOW_S)
        since = self._since(now, known.first_pass, known.last_pass)
        answer = await self.probe.ask(
            {
                "since": since,
                "ids": sorted(known.following),
                "names": sorted({*known.names, *known.following.values()}),
                "globs": list(self.globs),
            }
        )
        if self._failing:
            log.info("scheduler watch: reading the scheduler again")
            self._failing = False
        jobs = [
            job
            for job in (_seen(row, known.following) for row in answer["jobs"])
            if not (self.floor and job.ended_at is not None and job.ended_at < self.floor)
        ]
        facts = await self._facts(jobs, now)
        queued = await self._file(facts)
        following = {j.id: j.name for j in jobs if self._follow(j, now)}
        await self.db.run(memory.save_pass, now, following)
        if queued:
            self.wake()
        return queued

    def _since(self, now: float, first_pass: float | None, last_pass: float | None) -> float:
        """Ends from this time on are news: since a little before the last pass, never
        before watching began (the first pass ever, or the floor: a state dir's old jobs
        are history, not news)."""
        begun = (first_pass if first_pass is not None else now) - self.config.grace_s
        if self.floor is not None:
            begun = self.floor
        start = last_pass - SINCE_SLACK_S if last_pass is not None else begun
        return max(start, begun)

    def _follow(self, job: JobSeen, now: float) -> bool:
        """Asked for by id next pass: active, or ended and still inside its grace (the pass
        the grace runs out in tells its end, or sees its crash event, and lets it go)."""
        if job.active:
            return True
        ended = job.ended_at if job.ended_at is not None else now
        return now < max(ended, self.started) + self.config.grace_s

    async def _facts(self, jobs: list[JobSeen], now: float) -> list[Fact]:
        looked_at = [j for j in jobs if j.state != "pending" or j.restarts]
        events = await self.db.run(memory.events_of, {(j.conversation, j.name) for j in looked_at})
        facts: list[Fact] = []
        for job in looked_at:
            newer = sorted(
                (j for j in jobs if j.name == job.name and j.attempt > job.attempt),
                key=lambda j: j.attempt,
            )
            facts += observe(
                job,
                events.get(job.name, []),
                now=now,
                watching_since=self.started,
                config=self.config,
                newer=newer,
            )
        return facts

    async def _file(self, facts: list[Fact]) -> list[str]:
        told = await self.db.run(memory.told, [f"watch:{f.key}" for f in facts])
        queued = []
        for fact in facts:
            if f"watch:{fact.key}" in told:
                continue
            _, created = await self.inbox.put("watch", fact.key, fact.conversation, fact.payload)
            if created:
                log.info("scheduler watch: %s", fact.text)
                queued.append(fact.conversation)
        return queued


def _seen(row: dict[str, Any], following: dict[str, str]) -> JobSeen:
    job = JobSeen.of(row)
    if not job.name and job.id in following:  # a job Slurm forgot before its end was seen
        return JobSeen.of({**row, "name": following[job.id]})
    return job
