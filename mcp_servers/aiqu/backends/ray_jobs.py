"""One Ray job in the shared words, from what Ray says of it and, for ours, the index.

Jobs submitted outside aiqu are labelled `submitted_by=ray:<metadata user or
unknown>`, never the agent's own; their name is the `MLOPS_JOB` of their runtime
env (what their reporter says), else their submission id; their GPUs are not
known (Ray's Jobs API does not say what a job asked for). A job aiqu stopped
ended for aiqu's reason: its time limit, or a cancel before it started.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from orjson import loads

from .base import Job, JobSpec, JobState
from .ray_index import CANCEL, TIMEOUT
from .ray_records import FORGOTTEN, RayRecord

OTHERS = "ray"  # `submitted_by` of jobs submitted outside aiqu: ray:<user>


def job_of(
    job_id: str,
    row: sqlite3.Row | None,
    record: RayRecord,
    stops: Mapping[str, tuple[str, float]],
) -> Job:
    """One job in the shared words: ours (`row`, from the index) or someone else's (None),
    as Ray last told (`record`), with the stop aiqu asked for, if any."""
    stop = stops.get(job_id)
    state, reason = record.state, record.reason
    ended_at = record.ended_at
    if stop is not None and stop[0] == CANCEL:
        if record.status == "PENDING":
            # Ray stops it the moment it would start: for everyone else it is over now.
            state, reason, ended_at = JobState.CANCELLED, "cancelled before it started", stop[1]
        elif not state.active and record.status != "STOPPED":
            # It ended while Ray stopped it (a command that ends at once; Ray then fails
            # its own stop): cancelled, as on the local backend.
            state, reason = JobState.CANCELLED, f"cancelled as it ended ({reason})"
    if row is None:
        return Job(
            id=job_id,
            name=name_of(job_id, record),
            attempt=1,
            state=state,
            raw_state=record.status,
            reason=reason,
            gpus=0,  # Ray's Jobs API does not say what a job asked for
            queue=None,
            labels={"submitted_by": f"{OTHERS}:{record.user or 'unknown'}"},
            submitted_at=record.submitted_at or 0.0,
            started_at=None if record.status == "PENDING" else record.submitted_at,
            ended_at=None if state.active else ended_at,
            exit_code=None if state.active else record.exit_code,
        )
    spec = JobSpec(**loads(row["spec"]))
    if stop is not None and stop[0] == TIMEOUT and not record.state.active:
        state, reason = JobState.FAILED, f"time limit of {spec.time_limit_min} min reached"
    return Job(
        id=job_id,
        name=row["name"],
        attempt=row["attempt"],
        state=state,
        raw_state=record.status,
        reason=reason,
        gpus=spec.gpus,
        queue=None,
        labels=loads(row["labels"]),
        submitted_at=row["submitted_at"],
        started_at=None if record.status == "PENDING" else row["running_at"],
        ended_at=None if state.active else ended_at,
        exit_code=None if state.active else record.exit_code,
        spec=spec,
    )


def final_of(row: sqlite3.Row) -> RayRecord | None:
    return RayRecord.stored(loads(row["final"])) if row["final"] else None


def forgotten(job_id: str) -> RayRecord:
    return RayRecord(
        job_id,
        FORGOTTEN,
        message=(
            "Ray no longer holds this job and its end was never seen (its head restarted,"
            " or the job was deleted)"
        ),
    )


def name_of(job_id: str, record: RayRecord) -> str:
    return record.name or job_id
