"""Cancelling someone else's job goes through the write gate: a proposal in the guard
ledger, a person's approval in a later turn, and only then the cancel. Real local
scheduler, real ledger; after every refusal the job is still running."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mcp
import pytest

from core.ledger import GateRefused, Ledger, LedgerError
from core.proposals import GatedProposals
from core.skill_env import SkillEnvironment, SkillEnvironmentError
from mcp_servers.aiqu import actions
from mcp_servers.aiqu.backends.base import JobState
from mcp_servers.aiqu.errors import InvalidRequest, NeedsHuman
from mcp_servers.aiqu.server import build_server
from mcp_servers.aiqu.skill import AiquSkill, cancel_gate
from mcp_servers.registry import gate_context, proposal_words
from tests.ledger.conftest import Clock

from .conftest import spec, wait_state

FOREVER = "import time; time.sleep(120)"
ALICE, MALLORY = "U_ALICE", "U_MALLORY"
CONVERSATION = "job:team/pcb"


@pytest.fixture
def ledger(state_dir: Path) -> Ledger:
    key = Ledger.create_key(state_dir / "ledger.key")
    return Ledger(state_dir / "ledger.sqlite", key, clock=Clock())


@pytest.fixture
def gate(ledger: Ledger) -> GatedProposals:
    return GatedProposals(ledger, frozenset({ALICE}), kinds=proposal_words())


@pytest.fixture
def skill(make_skill: Callable[..., AiquSkill], gate: GatedProposals) -> AiquSkill:
    """A skill on the service's guard ledger: others' jobs are cancelled through it."""
    return make_skill(proposals=gate)


def turn(ledger: Ledger, conversation: str = CONVERSATION, sender: str = ALICE) -> str:
    """The next turn of a conversation, as the supervisor records it."""
    return ledger.record_turn(conversation, "chat", sender).turn_id


def anns_job(skill: AiquSkill) -> str:
    job = skill.scheduler.submit(spec("team/pcb", FOREVER, labels={"submitted_by": "ann"}))
    return wait_state(skill.scheduler, job.id, "running").id


def propose(skill: AiquSkill, job: str, turn_id: str) -> str:
    result = actions.cancel_job(skill, job, turn_id)
    assert result.proposal_id is not None
    return result.proposal_id


def still_running(skill: AiquSkill, job: str) -> bool:
    return skill.scheduler.get(job).state is JobState.RUNNING


def test_someone_else_s_job_becomes_a_proposal_and_keeps_running(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    t1 = turn(ledger)
    result = actions.cancel_job(skill, job, t1)

    assert result.proposal_id is not None
    assert f"a person must approve proposal {result.proposal_id}" in result.message
    assert result.job.state == "running" and still_running(skill, job)
    stored = ledger.proposal(result.proposal_id)
    assert stored is not None
    assert (stored.kind, stored.status, stored.conversation) == (
        "aiqu_cancel",
        "open",
        CONVERSATION,
    )
    assert stored.payload == {"job_id": job, "job": "team/pcb", "attempt": 1, "owner": "ann"}
    assert stored.summary == (
        f"cancel job {job} (team/pcb, attempt 1, running, 0 GPU(s)), submitted by ann"
    )


def test_refused_without_confirmation(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    proposal = propose(skill, job, turn(ledger))
    with pytest.raises(GateRefused, match="no confirmation from an allowed person yet"):
        actions.cancel_job(skill, job, turn(ledger), proposal)
    assert still_running(skill, job)


def test_refused_in_the_proposing_turn(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    t1 = turn(ledger)
    proposal = propose(skill, job, t1)
    with pytest.raises(GateRefused, match="was made in this turn: end your turn"):
        actions.cancel_job(skill, job, t1, proposal)
    assert still_running(skill, job)


def test_applied_after_a_confirmation_in_a_later_turn(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    proposal = propose(skill, job, turn(ledger))
    t2 = turn(ledger)
    ledger.confirm(proposal, ALICE, t2, "button")

    result = actions.cancel_job(skill, job, t2, proposal)

    assert result.job.state == "cancelled" and result.proposal_id == proposal
    assert result.message.startswith(f"cancelled job {job} (team/pcb), approved by {ALICE}")
    assert skill.scheduler.get(job).state is JobState.CANCELLED
    stored = ledger.proposal(proposal)
    assert stored is not None and (stored.status, stored.outcome) == (
        "applied",
        f"cancelled job {job}",
    )
    actions_logged = [r.action for r in ledger.audit_rows(conversation=CONVERSATION)]
    assert actions_logged == [
        "proposal.created",
        "proposal.approved",
        "approval.used",
        "proposal.closed",
    ]


def test_confirmation_reuse_is_refused(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    first = anns_job(skill)
    proposal = propose(skill, first, turn(ledger))
    t2 = turn(ledger)
    ledger.confirm(proposal, ALICE, t2, "text")
    actions.cancel_job(skill, first, t2, proposal)
    # The same name runs again (a new attempt); the spent approval does not stop it.
    second = anns_job(skill)
    with pytest.raises(GateRefused, match="already applied"):
        actions.cancel_job(skill, "team/pcb", turn(ledger), proposal)
    assert still_running(skill, second)


def test_approval_by_a_person_not_on_the_allowlist_is_refused(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    proposal = propose(skill, job, turn(ledger))
    t2 = turn(ledger, sender=MALLORY)
    ledger.confirm(proposal, MALLORY, t2, "button")
    with pytest.raises(GateRefused, match=f"approved by {MALLORY}, who may not approve"):
        actions.cancel_job(skill, job, t2, proposal)
    assert still_running(skill, job)


def test_apply_from_another_conversation_is_refused(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    proposal = propose(skill, job, turn(ledger))
    ledger.confirm(proposal, ALICE, turn(ledger), "text")
    elsewhere = turn(ledger, conversation="chat:DALICE:1")
    with pytest.raises(GateRefused, match="belongs to another conversation"):
        actions.cancel_job(skill, job, elsewhere, proposal)
    assert still_running(skill, job)


def test_a_made_up_turn_id_cannot_propose(skill: AiquSkill, gate: GatedProposals) -> None:
    job = anns_job(skill)
    with pytest.raises(LedgerError, match="unknown turn_id 'deadbeef'"):
        actions.cancel_job(skill, job, "deadbeef")
    assert still_running(skill, job)


def test_the_approved_proposal_is_for_one_job_only(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    other = skill.scheduler.submit(spec("team/other", FOREVER, labels={"submitted_by": "bo"})).id
    wait_state(skill.scheduler, other, "running")
    proposal = propose(skill, job, turn(ledger))
    t2 = turn(ledger)
    ledger.confirm(proposal, ALICE, t2, "text")
    with pytest.raises(InvalidRequest, match=f"proposal {proposal} is for job {job}"):
        actions.cancel_job(skill, other, t2, proposal)
    assert still_running(skill, other) and still_running(skill, job)


def test_a_git_proposal_cannot_cancel_a_job(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    t1 = turn(ledger)
    git_proposal = ledger.propose(t1, "git_change", {"repo": "vision"}, "a diff").id
    t2 = turn(ledger)
    ledger.confirm(git_proposal, ALICE, t2, "text")
    with pytest.raises(GateRefused, match="is a git change proposal, not a job cancel"):
        actions.cancel_job(skill, job, t2, git_proposal)
    assert still_running(skill, job)


def test_job_that_ended_meanwhile_closes_the_proposal(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = skill.scheduler.submit(
        spec("team/short", "import time; time.sleep(1.5)", labels={"submitted_by": "ann"})
    ).id
    wait_state(skill.scheduler, job, "running")
    proposal = propose(skill, job, turn(ledger))
    t2 = turn(ledger)
    ledger.confirm(proposal, ALICE, t2, "text")
    wait_state(skill.scheduler, job, "succeeded")
    with pytest.raises(InvalidRequest, match="already succeeded: nothing to cancel"):
        actions.cancel_job(skill, job, t2, proposal)
    stored = ledger.proposal(proposal)
    assert stored is not None and stored.status == "expired"
    decision = ledger.decision_of(proposal)
    assert decision is not None and decision.used is None  # the approval was not spent


def test_agent_s_own_job_still_stops_at_once(skill: AiquSkill, gate: GatedProposals) -> None:
    source = anns_job(skill)
    own = actions.submit_job(skill, source, name="team/pcb-trial-1").job
    result = actions.cancel_job(skill, own.id)
    assert result.job.state == "cancelled" and result.proposal_id is None


def test_without_turn_id_nothing_is_proposed(
    skill: AiquSkill, gate: GatedProposals, ledger: Ledger
) -> None:
    job = anns_job(skill)
    with pytest.raises(NeedsHuman, match="pass this turn's turn_id to file a proposal"):
        actions.cancel_job(skill, job)
    assert still_running(skill, job)
    assert ledger.audit_rows() == []


def test_gate_from_env_needs_the_service_s_ledger(state_dir: Path, ledger: Ledger) -> None:
    env = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_ALLOWED_USERS": f" {ALICE} ,U_BO"}
    gate = cancel_gate(SkillEnvironment.from_env(env), gate_context())
    assert gate is not None and gate.approvers == {ALICE, "U_BO"}
    assert gate.ledger.path == ledger.path
    elsewhere = SkillEnvironment.from_env({"MLOPS_STATE_DIR": str(state_dir / "elsewhere")})
    assert cancel_gate(elsewhere, gate_context()) is None
    with pytest.raises(
        SkillEnvironmentError, match="MLOPS_PROPOSAL_TTL_S='a day': must be a number"
    ):
        SkillEnvironment.from_env({**env, "MLOPS_PROPOSAL_TTL_S": "a day"})


async def test_through_the_mcp_tool(
    make_skill: Callable[..., AiquSkill], gate: GatedProposals, ledger: Ledger
) -> None:
    skill = make_skill(proposals=gate)
    job = anns_job(skill)
    t1, t2 = turn(ledger), turn(ledger)
    async with mcp.Client(build_server(skill)) as client:
        proposed = await client.call_tool("cancel_job", {"job": job, "turn_id": t1})
        proposal = (proposed.structured_content or {})["proposal_id"]
        early = await client.call_tool(
            "cancel_job", {"job": job, "turn_id": t2, "proposal_id": proposal}
        )
        ledger.confirm(proposal, ALICE, t2, "button")
        done = await client.call_tool(
            "cancel_job", {"job": job, "turn_id": t2, "proposal_id": proposal}
        )
    assert not proposed.is_error and proposal.startswith("P")
    assert early.is_error and "no confirmation from an allowed person yet" in early.content[0].text
    assert not done.is_error and (done.structured_content or {})["job"]["state"] == "cancelled"
    wait_state(skill.scheduler, job, "cancelled")
