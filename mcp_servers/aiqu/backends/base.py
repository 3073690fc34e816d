"""The scheduler adapter interface every backend implements.

Jobs have a stable logical name (`customer-b/pcb-inspect-v2`) that survives
requeues; each submission of that name is one attempt. States are normalised
so the agent reads the same words whatever runs the jobs; the backend's own
state and reason travel alongside.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class JobState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobState.PENDING, JobState.STARTING, JobState.RUNNING)


class SchedulerError(Exception):
    """A backend refused or failed; the message says what would be valid."""


@dataclass(frozen=True)
class JobSpec:
    name: str  # logical name, e.g. "customer-b/pcb-inspect-v2"
    command: list[str]  # argv run for the job
    gpus: int = 0
    queue: str | None = None  # partition / queue; backend default when None
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Who submitted it ("agent" or a person's id) plus sweep/trial ids etc.
    labels: dict[str, str] = field(default_factory=dict)
    time_limit_min: int | None = None


@dataclass(frozen=True)
class Job:
    id: str  # backend id of this attempt
    name: str
    attempt: int
    state: JobState
    raw_state: str
    reason: str | None
    gpus: int
    queue: str | None
    labels: dict[str, str]
    submitted_at: float  # unix seconds
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None  # negative: killed by that signal
    spec: JobSpec | None = None  # None: submitted outside aiqu (its command is unknown)
    # Times the scheduler itself put this same job back in the queue (Slurm's
    # restart_cnt: a preemption with requeue, `scontrol requeue`); 0 on the local backend.
    restarts: int = 0

    @property
    def submitted_by(self) -> str:
        return self.labels.get("submitted_by", "unknown")


Jobs = list[Job]  # for signatures inside classes whose own `list` method shadows the builtin


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


class Scheduler(Protocol):
    def submit(self, spec: JobSpec) -> Job:
        """Queue a new job; attempt = 1 + attempts already made under this name."""

    def get(self, job_id: str) -> Job:
        """Raise SchedulerError naming valid ids when unknown."""

    def list(self, *, include_finished: bool = True) -> list[Job]: ...

    def cancel(self, job_id: str) -> Job: ...

    def requeue(self, job_id: str) -> Job:
        """Submit the same spec again under the same logical name (attempt + 1)."""

    def logs(self, job_id: str, lines: int = 50) -> str:
        """The last `lines` lines of the job's output."""

    def gpu_total(self) -> int: ...

    def health(self) -> Health: ...

    def snapshot(
        self,
        job_ids: Collection[str] = (),
        ended_since: float = 0.0,
        others: Callable[[str], bool] | None = None,
    ) -> Jobs:
        """What the supervisor's watcher reads once per pass, in one scheduler call where
        the backend allows (Slurm: one `squeue --json`, never one call per job):

        - every active job;
        - every job that ended at or after `ended_since` (unix seconds) and that the
          scheduler still holds, or that was submitted through aiqu;
        - the jobs `job_ids` names, whatever their state (the watcher follows them from
          the pass that saw them active until it has seen how they ended).

        Of the jobs submitted outside aiqu (spec None), only those whose name `others`
        accepts, or whose id is in `job_ids`, are returned (None: all of them): a shared
        cluster's thousands of other jobs are dropped before they cost more than a name.
        Unknown ids are left out, never an error. Order does not matter."""
