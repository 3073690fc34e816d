"""Compact tool results: what the model reads back, and nothing it would not use."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from core.clock import now

from .backends.base import Job


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobRow(BaseModel):
    id: str
    name: str = Field(description="logical name, stable across requeues")
    attempt: int
    state: str = Field(description="pending|starting|running|succeeded|failed|cancelled")
    gpus: int
    queue: str | None
    submitted_by: str
    reason: str | None = Field(None, description="why it waits, or how it ended")
    runtime_min: float | None = Field(None, description="minutes running so far, or in total")

    @classmethod
    def of(cls, job: Job) -> JobRow:
        runtime = None
        if job.started_at is not None:
            runtime = round(((job.ended_at or now()) - job.started_at) / 60, 1)
        return cls(
            id=job.id,
            name=job.name,
            attempt=job.attempt,
            state=job.state.value,
            gpus=job.gpus,
            queue=job.queue,
            submitted_by=job.submitted_by,
            reason=job.reason,
            runtime_min=runtime,
        )


class JobDetail(JobRow):
    raw_state: str = Field(description="the backend's own state word")
    labels: dict[str, str]
    submitted_at: str | None
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    time_limit_min: int | None
    command: list[str] | None

    @classmethod
    def of(cls, job: Job) -> JobDetail:
        return cls(
            **JobRow.of(job).model_dump(),
            raw_state=job.raw_state,
            labels=job.labels,
            submitted_at=iso(job.submitted_at),
            started_at=iso(job.started_at),
            ended_at=iso(job.ended_at),
            exit_code=job.exit_code,
            time_limit_min=job.spec.time_limit_min if job.spec else None,
            command=job.spec.command if job.spec else None,
        )


class JobList(BaseModel):
    matching: int = Field(description="jobs matching the filters")
    shown: int
    jobs: list[JobRow] = Field(description="newest first")


class LogTail(BaseModel):
    job_id: str
    name: str
    attempt: int
    state: str
    exit_code: int | None
    command: list[str] | None
    labels: dict[str, str]
    lines: int = Field(description="lines returned")
    truncated: bool = Field(description="true when older output was cut off")
    text: str


class QueueLoad(BaseModel):
    queue: str
    running: int
    pending: int
    gpus_used: int


class AgentUsage(BaseModel):
    active_jobs: int
    max_jobs: int
    gpu_hours_24h: float
    max_gpu_hours_24h: float


class QueueOverview(BaseModel):
    gpus_total: int
    gpus_used: int
    gpus_free: int
    running: int
    pending: int
    queues: list[QueueLoad]
    agent_budget: AgentUsage


class ActionResult(BaseModel):
    message: str
    job: JobDetail
    agent_budget: AgentUsage
