"""What Ray says of one job, read from the Jobs API, and the shared words for it.

Ray's statuses map to the shared states; Ray's own status and message travel
alongside (`raw_state`, `reason`). A failure's message carries up to 20,000
characters of the job's log: only its first clause is kept (the log is one
`tail_logs` away). The job's log also carries Ray's own lines (runtime
environment set-up, "Running entrypoint for job …"), which are not the job's
output and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .base import JobState

STATES = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "STOPPED": JobState.CANCELLED,
}
ACTIVE = ("PENDING", "RUNNING")
FORGOTTEN = "UNKNOWN"  # raw state of a job of ours that Ray no longer holds
MAX_REASON = 300
# Lines Ray's job manager writes into the job's log before the command runs.
RAY_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\t[A-Z]+ job_manager\.py:\d+ -- .*")


@dataclass(frozen=True)
class RayRecord:
    submission_id: str
    status: str
    message: str | None = None
    error_type: str | None = None
    submitted_at: float | None = None  # Ray's start_time: when the job was submitted
    ended_at: float | None = None
    exit_code: int | None = None
    name: str | None = None  # MLOPS_JOB in its env, for jobs submitted outside aiqu
    user: str | None = None  # its metadata's "user", if whoever submitted it said

    @classmethod
    def read(cls, raw: dict[str, Any]) -> RayRecord:
        """From one job of `GET /api/jobs/`."""
        env = (raw.get("runtime_env") or {}).get("env_vars") or {}
        metadata = raw.get("metadata") or {}
        return cls(
            submission_id=str(raw["submission_id"]),
            status=str(raw["status"]),
            message=raw.get("message"),
            error_type=raw.get("error_type"),
            submitted_at=_seconds(raw.get("start_time")),
            ended_at=_seconds(raw.get("end_time")),
            exit_code=raw.get("driver_exit_code"),
            name=env.get("MLOPS_JOB") or metadata.get("mlops_job"),
            user=metadata.get("user"),
        )

    @classmethod
    def stored(cls, fields: dict[str, Any]) -> RayRecord:
        return cls(**fields)

    def to_store(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def state(self) -> JobState:
        return STATES.get(self.status, JobState.FAILED)

    @property
    def reason(self) -> str | None:
        """Ray's message, without the log it quotes (a traceback: its last line)."""
        if not self.message:
            return None
        text = self.message.split(", last available logs", 1)[0]
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if not lines:
            return None
        gist = lines[-1] if lines[0].startswith("Traceback") else lines[0]
        return gist[:MAX_REASON]


class Listing(Mapping[str, RayRecord]):
    """The jobs of one listing submitted through the Jobs API, by submission id, each read
    into a RayRecord only when asked for: a listing holds thousands of jobs a call does
    not need. (Drivers started by a `ray.init()` elsewhere have no submission id and
    cannot be stopped through the API: they are left out.)"""

    def __init__(self, listing: Iterable[dict[str, Any]]) -> None:
        self._raw = {
            str(raw["submission_id"]): raw
            for raw in listing
            if raw.get("type", "SUBMISSION") == "SUBMISSION" and raw.get("submission_id")
        }
        self._read: dict[str, RayRecord] = {}

    def __getitem__(self, submission_id: str) -> RayRecord:
        if submission_id not in self._read:
            self._read[submission_id] = RayRecord.read(self._raw[submission_id])
        return self._read[submission_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def active(self, submission_id: str) -> bool:
        """Cheap: before the job is read."""
        return self._raw[submission_id].get("status") in ACTIVE

    def recent(self, submission_id: str, since: float) -> bool:
        """Active, or ended at or after `since` (unix seconds)."""
        end = self._raw[submission_id].get("end_time")
        ended = isinstance(end, int | float) and end >= since * 1000
        return self.active(submission_id) or ended


def submission_jobs(listing: Iterable[dict[str, Any]]) -> Listing:
    return Listing(listing)


def job_output(log: str, submission_id: str, entrypoint: str) -> str:
    """The job's own output from Ray's job log."""
    # Ray writes "Running entrypoint for job <id>: <entrypoint>" through a buffer it flushes
    # once the command started, so it may come after the job's first lines; the entrypoint
    # may span lines (a `python -c` script). It is there once.
    log = log.replace(f"Running entrypoint for job {submission_id}: {entrypoint}\n", "", 1)
    return "\n".join(line for line in log.splitlines() if not RAY_LOG_LINE.fullmatch(line))


def _seconds(ms: Any) -> float | None:
    return ms / 1000 if isinstance(ms, int | float) else None
