"""Whose job may the agent touch on its own? Reversibility draws the line.

The agent may stop (cancel, early-stop) only jobs it submitted itself:
stopping someone else's run destroys their work. It may requeue its own jobs,
and anyone's job that already failed or was cancelled: a fresh attempt of a
crashed run undoes nothing and can itself be cancelled.

Cancelling someone else's job goes through the write gate, the same one the
git skill uses (`core.proposals`): the skill files a proposal in the guard
ledger, a person approves it in a later turn, and only then does the cancel run.
"""

from __future__ import annotations

from typing import Any

from .backends.base import Job, JobState
from .errors import NeedsHuman

AGENT = "agent"  # the `submitted_by` label of every job the agent submits
SUBMITTED_BY = "submitted_by"
CANCEL_KIND = "aiqu_cancel"
REQUEUE_KIND = "aiqu_requeue"  # a requeue of a customer's job asked from outside its route


def is_agent_owned(job: Job) -> bool:
    return job.labels.get(SUBMITTED_BY) == AGENT


def check_cancel_allowed(job: Job) -> None:
    """Refuse to stop a job the agent did not submit (without a gate to propose through)."""
    if not is_agent_owned(job):
        raise NeedsHuman(
            f"refused: job {job.id} ({job.name}) was submitted by {job.submitted_by}, not by the"
            " agent; cancelling someone else's job needs a human's confirmation"
        )


def check_requeue_allowed(job: Job) -> None:
    if is_agent_owned(job) or job.state in (JobState.FAILED, JobState.CANCELLED):
        return
    raise NeedsHuman(
        f"refused: job {job.id} ({job.name}) was submitted by {job.submitted_by} and"
        f" {job.state.value}; the agent may requeue its own jobs and anyone's failed or"
        " cancelled job, anything else needs a human's confirmation"
    )


def cancel_proposal(job: Job) -> tuple[dict[str, Any], str]:
    """The payload and summary of a proposal to cancel someone else's job: what a person
    approves, and what the cancel acts on once approved (the job id, never a later attempt)."""
    return job_proposal(job, "cancel")


def job_proposal(job: Job, action: str) -> tuple[dict[str, Any], str]:
    """A proposal to `action` (cancel, requeue) one job, by its id."""
    payload = {
        "job_id": job.id,
        "job": job.name,
        "attempt": job.attempt,
        "owner": job.submitted_by,
    }
    summary = (
        f"{action} job {job.id} ({job.name}, attempt {job.attempt}, {job.state.value},"
        f" {job.gpus} GPU(s)), submitted by {job.submitted_by}"
    )
    return payload, summary
