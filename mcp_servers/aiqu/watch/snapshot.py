"""One watch pass as the skill answers it: which jobs, and what of each.

Request (one JSON line): `{"since": <unix s>, "ids": [...], "names": [...],
"globs": [...]}`. Answer (one JSON line): `{"ok": true, "jobs": [...],
"seconds": <time the backend took>}`, or `{"ok": false, "error": "..."}`.

A job is in the answer when it is watched: submitted through aiqu (the
agent's tools or `mlops-agent submit`), or named in `names` (jobs that
reported), or matching one of `globs` (`MLOPS_WATCH_JOBS`), or its id is in
`ids` (attempts the watcher follows) — and it is active, or ended at or after
`since`, or asked for by id. Everything else the scheduler holds (other
people's jobs on a shared cluster) is read in the same call and dropped here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from core.globs import matches

from ..backends.base import Job, Scheduler, SchedulerError


class BadRequest(ValueError):
    """A request line that is not what the protocol says."""


@dataclass(frozen=True)
class WatchRequest:
    since: float
    ids: frozenset[str]
    names: frozenset[str]
    globs: tuple[str, ...]

    @classmethod
    def parse(cls, line: str) -> WatchRequest:
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise BadRequest(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise BadRequest("a request is a JSON object")
        since = raw.get("since", 0.0)
        if not isinstance(since, int | float) or isinstance(since, bool):
            raise BadRequest(f"since must be unix seconds, got {since!r}")
        return cls(
            float(since),
            frozenset(_strings(raw, "ids")),
            frozenset(_strings(raw, "names")),
            tuple(_strings(raw, "globs")),
        )

    def names_watched(self, name: str) -> bool:
        return name in self.names or matches(name, self.globs)

    def watches(self, job: Job) -> bool:
        return (
            job.spec is not None  # submitted through aiqu: the agent's own scheduler started it
            or job.id in self.ids
            or job.name in self.names
            or matches(job.name, self.globs)
        )


def answer(scheduler: Scheduler, line: str) -> dict[str, Any]:
    try:
        request = WatchRequest.parse(line)
        started = time.monotonic()
        jobs = scheduler.snapshot(request.ids, request.since, request.names_watched)
        took = time.monotonic() - started
    except (BadRequest, SchedulerError) as exc:
        return {"ok": False, "error": str(exc)}
    return {
        "ok": True,
        "jobs": [row(j) for j in jobs if request.watches(j)],
        "seconds": round(took, 4),
    }


def row(job: Job) -> dict[str, Any]:
    """What the watcher reads of a job: the scheduler's words, times, and who started it."""
    return {
        "id": job.id,
        "name": job.name,
        "attempt": job.attempt,
        "restarts": job.restarts,
        "state": job.state.value,
        "active": job.state.active,
        "raw_state": job.raw_state,
        "reason": job.reason,
        "exit_code": job.exit_code,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "labels": job.labels,
        "via_aiqu": job.spec is not None,
        "time_limit_min": job.spec.time_limit_min if job.spec else None,
    }


def _strings(raw: dict[str, Any], key: str) -> Collection[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key} must be a list of strings")
    return value
