"""Scenario time: when a scenario starts on its stage's virtual clock, and which moments
the service's timers (the scheduled check, the morning digest) are due between two steps.

Every stage has one virtual clock (`core.clock.Clock` with a file), read by its
service and skills. It only moves forward: a scenario starts at the stage clock's
now (moved to the next 08:00 UTC when that falls outside 08:00-20:00, so the eval's
quiet hours, 22:00-06:00, apply only where a scenario asks for the night), or at the
next `clock.start` time of day. Each step happens at start + `at`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

DAY_STARTS, DAY_ENDS = clock_time(8, 0), clock_time(20, 0)
MAX_MOMENTS = 500  # timer passes one step may cover (e.g. 250 h of checks every 30 min)


def scenario_start(now: float, start: clock_time | None) -> float:
    """The virtual time of a scenario's `0s`, never before `now`."""
    local = datetime.fromtimestamp(now, UTC)
    if start is None:
        if DAY_STARTS <= local.time() < DAY_ENDS:
            return now
        start = DAY_STARTS
    return next_at(now, start)


def next_at(now: float, at: clock_time) -> float:
    """The first moment at or after `now` whose time of day (UTC) is `at`."""
    local = datetime.fromtimestamp(now, UTC)
    candidate = datetime.combine(local.date(), at, tzinfo=UTC)
    if candidate.timestamp() < now:
        candidate += timedelta(days=1)
    return candidate.timestamp()


def digest_moment(now: float, at: clock_time, after: float | None) -> float:
    """When a forced digest happens: now, if the digest hour has just begun (`at` to an
    hour later, as the service's own window); otherwise the next `at`. Always later
    than the stage's previous digest, whose date the service has already used."""
    local = datetime.fromtimestamp(now, UTC)
    due = datetime.combine(local.date(), at, tzinfo=UTC).timestamp()
    moment = now if due <= now < due + 3600 else next_at(now, at) + 1
    while after is not None and moment <= after + 3600:
        moment += 86400
    return moment


def due_moments(
    after: float, until: float, check_every_s: float | None, digest: clock_time | None
) -> list[float]:
    """The moments in (after, until] when a timer of the service fires: each slot of the
    scheduled check (one second in, so the slot has begun) and each day's digest."""
    moments: list[float] = []
    if check_every_s:
        slot = math.floor(after / check_every_s) + 1
        while slot * check_every_s + 1 <= until and len(moments) <= MAX_MOMENTS:
            moments.append(slot * check_every_s + 1)
            slot += 1
    if digest is not None:
        moment = next_at(after, digest) + 1
        while moment <= until and len(moments) <= MAX_MOMENTS:
            if moment > after:
                moments.append(moment)
            moment += 86400
    if len(moments) > MAX_MOMENTS:
        raise ValueError(
            f"{len(moments)}+ timer passes between two steps: a step's `at:` jumps too far"
        )
    return sorted(moments)
