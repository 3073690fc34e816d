"""Read tools: plain functions over the injected skill (server.py only registers them)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import Field

from .backends.base import Job, JobState, Scheduler, SchedulerError
from .errors import InvalidRequest
from .models import JobDetail, JobList, JobRow, LogTail, QueueLoad, QueueOverview
from .params import JobRef, Rows, StateFilter
from .skill import AiquSkill

STATE_FILTERS = ("active", "finished", *(s.value for s in JobState))
MAX_LOG_CHARS = 8000


# The newest jobs shown; `matching` says how many there are (filter to narrow them).
LIST_LIMIT = 30


def resolve_job(scheduler: Scheduler, ref: str) -> Job:
    """A job by backend id, or by logical name (its latest attempt)."""
    ref = ref.strip()
    try:
        return scheduler.get(ref)
    except SchedulerError:
        pass
    jobs = scheduler.list()
    named = [j for j in jobs if j.name == ref]
    if named:
        return max(named, key=lambda j: (j.attempt, j.submitted_at))
    recent = ", ".join(f"{j.name} (id {j.id})" for j in jobs[:8]) or "none"
    raise InvalidRequest(f"no job with id or name {ref!r}; recent jobs: {recent}")


def list_jobs(
    skill: AiquSkill,
    state: Annotated[StateFilter | None, Field(description="active: not ended")] = None,
    name: str | None = None,  # a part of it
    label: Annotated[str | None, Field(description="key=value")] = None,
) -> JobList:
    """Jobs, newest first."""
    if state is not None and state not in STATE_FILTERS:
        raise InvalidRequest(f"unknown state {state!r}; valid: {', '.join(STATE_FILTERS)}")
    if label is not None and "=" not in label:
        raise InvalidRequest(
            f"label filter must be key=value, e.g. submitted_by=agent; got {label!r}"
        )
    jobs = skill.scheduler.list(include_finished=state not in ("active", "pending", "running"))
    if state == "active":
        jobs = [j for j in jobs if j.state.active]
    elif state == "finished":
        jobs = [j for j in jobs if not j.state.active]
    elif state is not None:
        jobs = [j for j in jobs if j.state.value == state]
    if name:
        jobs = [j for j in jobs if name.lower() in j.name.lower()]
    if label is not None:
        key, value = label.split("=", 1)
        jobs = [j for j in jobs if j.labels.get(key.strip()) == value.strip()]
    jobs.sort(key=lambda j: j.submitted_at, reverse=True)
    rows = [JobRow.of(j) for j in jobs[:LIST_LIMIT]]
    return JobList(matching=len(jobs), shown=len(rows), jobs=rows)


def get_job(skill: AiquSkill, job: JobRef) -> JobDetail:
    """One job in full, with exit code, labels and command."""
    return JobDetail.of(resolve_job(skill.scheduler, job))


def tail_logs(skill: AiquSkill, job: JobRef, lines: Rows = 50) -> LogTail:
    """A job's state, exit code, command and last output."""
    found = resolve_job(skill.scheduler, job)
    text = skill.scheduler.logs(found.id, lines)
    truncated = len(text) > MAX_LOG_CHARS
    if truncated:
        text = text[-MAX_LOG_CHARS:].split("\n", 1)[-1]
    return LogTail(
        job_id=found.id,
        name=found.name,
        attempt=found.attempt,
        state=found.state.value,
        exit_code=found.exit_code,
        command=found.spec.command if found.spec else None,
        labels=found.labels,
        lines=len(text.splitlines()),
        truncated=truncated or len(text.splitlines()) >= lines,
        text=text,
    )


def queue_overview(skill: AiquSkill) -> QueueOverview:
    """GPUs in use, queues, the agent's budget."""
    active = skill.scheduler.list(include_finished=False)
    total = skill.scheduler.gpu_total()
    running = [j for j in active if j.state in (JobState.RUNNING, JobState.STARTING)]
    used = sum(j.gpus for j in running)
    by_queue: Counter[tuple[str, str]] = Counter()
    gpus_by_queue: Counter[str] = Counter()
    for j in active:
        queue = j.queue or "default"
        is_running = j.state is not JobState.PENDING
        by_queue[(queue, "running" if is_running else "pending")] += 1
        gpus_by_queue[queue] += j.gpus if is_running else 0
    queues = sorted({q for q, _ in by_queue})
    return QueueOverview(
        gpus_total=total,
        gpus_used=used,
        gpus_free=max(0, total - used),
        running=len(running),
        pending=len(active) - len(running),
        queues=[
            QueueLoad(
                queue=q,
                running=by_queue[(q, "running")],
                pending=by_queue[(q, "pending")],
                gpus_used=gpus_by_queue[q],
            )
            for q in queues
        ],
        agent_budget=skill.agent_usage(),
    )
