"""Whose job may the agent touch on its own? Reversibility draws the line.

The agent may stop (cancel, early-stop) only jobs it submitted itself:
stopping someone else's run destroys their work. It may requeue its own jobs,
and anyone's job that already failed or was cancelled: a fresh attempt of a
crashed run undoes nothing and can itself be cancelled.
"""

from __future__ import annotations

from .backend import Job, JobState
from .errors import NeedsHuman

AGENT = "agent"  # the `submitted_by` label of every job the agent submits
SUBMITTED_BY = "submitted_by"


def is_agent_owned(job: Job) -> bool:
    return job.labels.get(SUBMITTED_BY) == AGENT


def check_cancel_allowed(job: Job) -> None:
    """Refuse to stop a job the agent did not submit.

    The one place the write gate hooks in later: a refusal here will become
    a proposal a human confirms.
    """
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
