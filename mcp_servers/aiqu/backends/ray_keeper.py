"""Looking after aiqu's Ray jobs: Ray has no time limits and does not say when a job left
the queue, so every read of our jobs (and a background pass) records what Ray holds
in the index and stops the jobs that ran past their own limit, as the local backend
does. A stop Ray did not carry out is asked again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping

from orjson import loads

from .base import Jobs, JobSpec
from .ray_api import RayDashboard
from .ray_index import TIMEOUT, RayIndex, Rows
from .ray_jobs import final_of, forgotten, job_of
from .ray_records import RayRecord, submission_jobs

RESEND_STOP_S = 60.0  # a stop Ray did not carry out is asked again after this
MANY = 3  # more jobs to look at than this: one listing instead of one call each


class RayKeeper:
    def __init__(self, index: RayIndex, ray: RayDashboard, clock: Callable[[], float]) -> None:
        self._index = index
        self._ray = ray
        self._clock = clock

    def tend(self) -> None:
        """The background pass: look at our unfinished jobs that need it (still waiting as
        last seen, or past their time limit), with one call each, or one listing for many."""
        now = self._clock()
        due = [r for r in self._index.rows("WHERE final IS NULL") if is_due(r, now)]
        if not due:
            return
        if len(due) > MANY:
            held = submission_jobs(self._ray.jobs())
        else:
            raws = [self._ray.job(r["id"]) for r in due]
            held = submission_jobs([raw for raw in raws if raw])
        self.jobs_of(due, {r["id"]: held.get(r["id"]) or forgotten(r["id"]) for r in due})

    def jobs_of(self, rows: Rows, held: Mapping[str, RayRecord]) -> Jobs:
        """Our jobs in `rows`, from the index's final record or what Ray holds, read after
        the rows (one it lacks, it forgot). Keeps the index up to date and stops the jobs
        that ran past their time limit."""
        now = self._clock()
        seen = {r["id"]: held.get(r["id"]) or forgotten(r["id"]) for r in rows if not r["final"]}
        if seen:
            self._index.observe([(r, seen[r["id"]]) for r in rows if r["id"] in seen], now)
            fresh = {r["id"]: r for r in self._index.rows_of(seen)}
            rows = [fresh.get(r["id"], r) for r in rows]
            self._enforce_time_limits(rows, seen, now)
        stops = self._index.stops()
        return [job_of(row["id"], row, final_of(row) or seen[row["id"]], stops) for row in rows]

    def _enforce_time_limits(self, rows: Rows, seen: Mapping[str, RayRecord], now: float) -> None:
        stops = self._index.stops()
        for row in rows:
            record = seen.get(row["id"])
            if record is None or record.status != "RUNNING" or not is_overdue(row, now):
                continue
            stop = stops.get(row["id"])
            if stop is None or now - stop[1] > RESEND_STOP_S:
                self._index.stopping(row["id"], TIMEOUT, now)
                self._ray.stop(row["id"])


def is_due(row: sqlite3.Row, now: float) -> bool:
    """Whether an unfinished job of ours needs a look: not yet seen running (so its start is
    caught within a pass), or running past its time limit."""
    return row["running_at"] is None or is_overdue(row, now)


def is_overdue(row: sqlite3.Row, now: float) -> bool:
    limit = JobSpec(**loads(row["spec"])).time_limit_min
    started = row["running_at"]
    return limit is not None and started is not None and now - started > limit * 60
