"""One watch pass's facts, from the scheduler's snapshot and the jobs' own events (pure).

Observation only: what the scheduler shows and what the job sent, rendered as
one line the model reads. Whether and how to tell anyone is the brief's call.

- **ended**: an attempt left the active states and no `crashed`/`finished`
  event came from it within the grace period (counted from when the watcher
  could first have seen the end). A crash event and the scheduler's FAILED
  for one attempt are one story: the event told it, so the watcher says nothing.
- **silent**: a running attempt sent no event for longer than `factor` × its
  own median gap between events, and at least `min_s`; once per silence and
  again each time the silence doubles (a new event starts a new silence).
- **requeued**: the scheduler put the same job back in the queue itself
  (its restart count went up: a preemption with requeue, `scontrol requeue`).

Each fact's key names the job id, the attempt and restart, the fact (and for
a silence its last event and doubling), so the inbox's dedupe makes a fact
observed twice, by two passes or across a restart, one item.
"""

from __future__ import annotations

import math
import signal
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ENDING_EVENTS = ("crashed", "finished", "failed")  # the job told its own end
MEDIAN_OVER = 64  # the most recent gaps a job's rhythm is read from
EARLY_S = 5.0  # events this much before the scheduler's start time still count (clock skew)


@dataclass(frozen=True)
class WatchConfig:
    grace_s: float = 60.0
    silence_factor: float = 3.0
    silence_min_s: float = 900.0


@dataclass(frozen=True)
class JobSeen:
    """One attempt as the scheduler showed it (a row of the watch process's answer)."""

    id: str
    name: str
    attempt: int
    state: str  # pending | starting | running | succeeded | failed | cancelled
    active: bool
    raw_state: str
    reason: str | None = None
    exit_code: int | None = None
    restarts: int = 0
    submitted_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    via_aiqu: bool = False
    time_limit_min: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> JobSeen:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in known})

    @property
    def conversation(self) -> str:
        """The conversation its events go to: its sweep's, else its own (as the inbox files
        events)."""
        sweep = self.labels.get("sweep")
        return f"sweep:{sweep}" if sweep else f"job:{self.name}"

    @property
    def run(self) -> str:
        """`attempt 2`, or `attempt 2, restart 1` once the scheduler requeued it."""
        return f"attempt {self.attempt}" + (f", restart {self.restarts}" if self.restarts else "")

    @property
    def key(self) -> str:
        return f"{self.id}:{self.attempt}.{self.restarts}"


@dataclass(frozen=True)
class EventSeen:
    """One event the job sent, as the inbox received it."""

    item_id: int
    type: str
    received: float  # the service's clock
    attempt: int | None = None
    owner: str | None = None
    progress: str = ""  # e.g. "epoch=12 total=60"


@dataclass(frozen=True)
class Fact:
    kind: str  # ended | silent | requeued
    key: str  # the inbox dedupe key
    conversation: str
    text: str
    payload: dict[str, Any]


def events_of_run(job: JobSeen, events: Sequence[EventSeen]) -> list[EventSeen]:
    """The events this attempt (this restart) sent, oldest first."""
    start = job.started_at or job.submitted_at or 0.0
    return [
        e
        for e in events
        if e.received >= start - EARLY_S
        and (not job.via_aiqu or e.attempt is None or e.attempt == job.attempt)
    ]


def observe(
    job: JobSeen,
    events: Sequence[EventSeen],
    *,
    now: float,
    watching_since: float,
    config: WatchConfig,
    newer: Sequence[JobSeen] = (),
) -> list[Fact]:
    """The facts about one attempt at `now`. `events`: the job's events, oldest first;
    `newer`: later attempts of the same job the scheduler shows."""
    mine = events_of_run(job, events)
    facts = [f for f in (_requeued(job, mine), _silent(job, mine, now, config)) if f]
    ended = _ended(job, mine, now, watching_since, config, newer)
    return facts + ([ended] if ended else [])


def _ended(
    job: JobSeen,
    events: Sequence[EventSeen],
    now: float,
    watching_since: float,
    config: WatchConfig,
    newer: Sequence[JobSeen],
) -> Fact | None:
    if job.active or job.ended_at is None:
        return None
    if now < max(job.ended_at, watching_since) + config.grace_s:
        return None  # its crashed/finished event may still be on its way
    if any(e.type in ENDING_EVENTS for e in events):
        return None  # the job told it: one story
    ran = (
        f" after {duration(job.ended_at - job.started_at)} running"
        if job.started_at
        else " before it started"
    )
    limit = f" (time limit {job.time_limit_min} min)" if job.time_limit_min else ""
    text = (
        f"{job.name} {job.run} (job {job.id}) ended with no crashed or finished event from it:"
        f" {scheduler_words(job)}, ended {clock(job.ended_at)}{ran}{limit}. {last_event(events)}"
    )
    if newer:
        later = ", ".join(f"{n.run} (job {n.id}) is {n.state}" for n in newer)
        text += f" Since then: {later}."
    return _fact("ended", job, text, events)


def _silent(
    job: JobSeen, events: Sequence[EventSeen], now: float, config: WatchConfig
) -> Fact | None:
    if job.state != "running" or len(events) < 2:
        return None  # without two events there is no rhythm of its own to compare with
    times = [e.received for e in events[-(MEDIAN_OVER + 1) :]]
    median = statistics.median(b - a for a, b in zip(times, times[1:], strict=False))
    threshold = max(config.silence_factor * median, config.silence_min_s)
    silence = now - events[-1].received
    if threshold <= 0 or silence < threshold:
        return None
    doubling = int(math.log2(silence / threshold))  # 0, then 1 once the silence doubled…
    running = f", running for {duration(now - job.started_at)}" if job.started_at else ""
    text = (
        f"{job.name} {job.run} (job {job.id}) is {job.raw_state} but sent no event for"
        f" {duration(silence)}{running}. {last_event(events)} Its median gap between events"
        f" is {duration(median)} (silent past {config.silence_factor:g}× that, and at least"
        f" {duration(config.silence_min_s)})."
    )
    return _fact("silent", job, text, events, f":{events[-1].item_id}:{doubling}")


def _requeued(job: JobSeen, events: Sequence[EventSeen]) -> Fact | None:
    if job.restarts <= 0:
        return None
    text = (
        f"{job.name} {job.run} (job {job.id}) was put back in the queue by the scheduler"
        f" itself (restart {job.restarts}): now {scheduler_words(job)}. {last_event(events)}"
    )
    return _fact("requeued", job, text, events)


def _fact(kind: str, job: JobSeen, text: str, events: Sequence[EventSeen], extra: str = "") -> Fact:
    owners = [e.owner for e in events if e.owner]
    by = job.labels.get("submitted_by")
    payload = {
        "text": text,
        "fact": kind,
        "job": job.name,
        "job_id": job.id,
        "attempt": job.attempt,
        "restarts": job.restarts,
        "state": job.state,
        "raw_state": job.raw_state,
        "reason": job.reason,
        "exit_code": job.exit_code,
        # Whom the job concerns, as its events named them (else who submitted it): the
        # route notes turn a mapped owner into a mention the brief may use.
        "owner": owners[-1] if owners else (by if by and by != "agent" else None),
    }
    return Fact(kind, f"{job.key}:{kind}{extra}", job.conversation, text, payload)


def scheduler_words(job: JobSeen) -> str:
    words = f"state {job.raw_state} ({job.state})"
    if job.reason:
        words += f", reason {job.reason!r}"
    if job.exit_code is not None and job.exit_code < 0:
        words += f", killed by signal {-job.exit_code} ({signal_name(-job.exit_code)})"
    elif job.exit_code is not None:
        words += f", exit code {job.exit_code}"
    return words


def last_event(events: Sequence[EventSeen]) -> str:
    if not events:
        return "It sent no event."
    last = events[-1]
    what = f"{last.type} {last.progress}".strip()
    return f"Last event: {what} at {clock(last.received)}."


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(ts))
