"""One Slurm job in the shared words: Slurm's state names mapped to the shared states, and
the job as Slurm reports it plus, for ours, what the index keeps (name, attempt,
labels, spec). Jobs submitted outside aiqu are labelled `submitted_by=slurm:<user>`,
so they can never pass for the agent's own.
"""

from __future__ import annotations

import json
import sqlite3

from .base import Job, JobSpec, JobState
from .slurm_json import JobRecord

_RAW_STATES = {
    JobState.PENDING: "PENDING REQUEUED REQUEUE_HOLD REQUEUE_FED RESV_DEL_HOLD SUSPENDED",
    JobState.STARTING: "CONFIGURING POWER_UP_NODE",
    JobState.RUNNING: "RUNNING COMPLETING SIGNALING STAGE_OUT RESIZING STOPPED",
    JobState.SUCCEEDED: "COMPLETED",
    JobState.FAILED: "FAILED TIMEOUT NODE_FAIL OUT_OF_MEMORY BOOT_FAIL DEADLINE PREEMPTED"
    " SPECIAL_EXIT REVOKED UNKNOWN",
    JobState.CANCELLED: "CANCELLED",
}
STATES = {raw: state for state, names in _RAW_STATES.items() for raw in names.split()}


def state_of(record: JobRecord) -> JobState:
    return STATES.get(record.raw_state, JobState.PENDING)


def job_of(job_id: str, row: sqlite3.Row | None, seen: JobRecord) -> Job:
    state = state_of(seen)
    if row is None:  # submitted outside aiqu: what Slurm says is all there is
        name, attempt, spec = seen.name, 1, None
        labels, submitted_at = {"submitted_by": f"slurm:{seen.user}"}, seen.submitted_at
    else:
        name, attempt, spec = row["name"], row["attempt"], JobSpec(**json.loads(row["spec"]))
        labels, submitted_at = json.loads(row["labels"]), row["submitted_at"]
    return Job(
        id=job_id,
        name=name,
        attempt=attempt,
        state=state,
        raw_state=seen.raw_state,
        reason=seen.reason,
        gpus=spec.gpus if spec is not None else seen.gpus,
        queue=seen.queue or (spec.queue if spec is not None else None),
        labels=labels,
        submitted_at=submitted_at,
        # A pending job's start_time is Slurm's forecast, not a start.
        started_at=None if state is JobState.PENDING else seen.started_at,
        ended_at=None if state.active else seen.ended_at,
        exit_code=None if state.active else seen.exit_code,
        spec=spec,
        restarts=seen.restarts,
    )
