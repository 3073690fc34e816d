"""Whose job may the agent touch on its own? Reversibility draws the line.

The agent may stop (cancel, early-stop) only jobs it submitted itself:
stopping someone else's run destroys their work. It may requeue its own jobs,
and anyone's job that already failed or was cancelled: a fresh attempt of a
crashed run undoes nothing and can itself be cancelled.

Cancelling someone else's job goes through the write gate, the same one the
git skill uses: the skill files a proposal in the guard ledger, a person
approves it in a later turn, and only then does the cancel run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.ledger import Confirmation, Ledger, LedgerError, Proposal

from .backends.base import Job, JobState
from .errors import NeedsHuman, Refused

log = logging.getLogger(__name__)

AGENT = "agent"  # the `submitted_by` label of every job the agent submits
SUBMITTED_BY = "submitted_by"
CANCEL_KIND = "aiqu_cancel"


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


@dataclass(frozen=True)
class CancelGate:
    """The guard ledger's side of cancelling someone else's job.

    Every ledger refusal becomes `Refused` with the ledger's own message, which
    says what to wait for; the turn ids and approvals come from the ledger, so
    nothing the model says can stand in for a person's approval.
    """

    ledger: Ledger
    allowed_users: frozenset[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CancelGate | None:
        """The ledger the service made in `$MLOPS_STATE_DIR`; None when there is none
        (then someone else's job is simply refused)."""
        state_dir = Path(env.get("MLOPS_STATE_DIR") or "state")
        path = state_dir / "ledger.sqlite"
        if not path.exists():
            # The service creates the ledger and its key; a skill never makes its own.
            log.warning("no guard ledger at %s: cancelling others' jobs is refused", path)
            return None
        try:
            ttl = float(env.get("MLOPS_PROPOSAL_TTL_S") or 24 * 3600)
        except ValueError:
            raise ValueError(
                "MLOPS_PROPOSAL_TTL_S: must be a number of seconds, e.g. 86400"
            ) from None
        key_file = Path(env.get("MLOPS_LEDGER_KEY_FILE") or state_dir / "ledger.key")
        users = env.get("MLOPS_ALLOWED_USERS", "")
        return cls(
            Ledger.from_files(path, key_file, proposal_ttl_s=ttl),
            frozenset(u.strip() for u in users.split(",") if u.strip()),
        )

    def propose(self, job: Job, turn_id: str) -> Proposal:
        payload = {
            "job_id": job.id,
            "job": job.name,
            "attempt": job.attempt,
            "owner": job.submitted_by,
        }
        summary = (
            f"cancel job {job.id} ({job.name}, attempt {job.attempt}, {job.state.value},"
            f" {job.gpus} GPU(s)), submitted by {job.submitted_by}"
        )
        return self._ledger_call(self.ledger.propose, turn_id, CANCEL_KIND, payload, summary)

    def approved(self, proposal_id: str, turn_id: str) -> dict[str, Any]:
        """The payload of a cancel proposal that `turn_id` may act on now (read-only check)."""
        self._ledger_call(self.ledger.gate, proposal_id, turn_id, self.allowed_users)
        proposal = self.ledger.proposal(proposal_id)
        if proposal is None or proposal.kind != CANCEL_KIND:
            kind = proposal.kind if proposal else "unknown"
            raise Refused(f"proposal {proposal_id} is a {kind} proposal, not a job cancel")
        return proposal.payload

    def spend(self, proposal_id: str, turn_id: str) -> Confirmation:
        """Check again and consume the approval: one approval, one cancel."""
        confirmation: Confirmation = self._ledger_call(
            self.ledger.mark_used, proposal_id, turn_id, self.allowed_users
        )
        return confirmation

    def close(self, proposal_id: str, status: str, outcome: str) -> None:
        self._ledger_call(self.ledger.close, proposal_id, status, outcome)

    @staticmethod
    def _ledger_call(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except LedgerError as exc:
            raise Refused(str(exc)) from None
