"""A customer's job is acted on from its own route: asked from anywhere else, a cancel or a
requeue is a proposal only an approver of the job's route can approve, and new work on it
is refused. Real local scheduler, real ledger, the routes file as an operator writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.ledger import GateRefused, Ledger
from core.proposals import GatedProposals
from core.routes import Routes
from mcp_servers.aiqu import actions
from mcp_servers.aiqu.backends.base import JobState
from mcp_servers.aiqu.errors import InvalidRequest, NeedsHuman
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.registry import proposal_words
from tests.ledger.conftest import Clock

from .conftest import spec, wait_state

FOREVER = "import time; time.sleep(120)"
ANN, BO = "UANN", "UBO"
ROUTES = f"""\
routes:
  - name: customer-a
    jobs: ["customer-a/**"]
    channel: CA
    approvers: [{ANN}]
  - name: customer-b
    jobs: ["customer-b/**"]
    channel: CB
    approvers: [{BO}]
"""
DM = "chat:D0BO:1700000000.000100"  # B's approver's DM: the default route


@pytest.fixture
def ledger(state_dir: Path) -> Ledger:
    return Ledger(state_dir / "ledger.sqlite", Ledger.create_key(state_dir / "k"), clock=Clock())


@pytest.fixture
def skill(make_skill: Callable[..., AiquSkill], ledger: Ledger, tmp_path: Path) -> AiquSkill:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    allowed = frozenset({ANN, BO})
    routes = Routes.load(tmp_path / "routes.yaml", allowed_users=allowed, default_channel="CN")
    return make_skill(proposals=GatedProposals(ledger, allowed, routes, kinds=proposal_words()))


def turn(ledger: Ledger, conversation: str, sender: str = BO) -> str:
    return ledger.record_turn(conversation, "chat", sender).turn_id


def agents_job(skill: AiquSkill, name: str, code: str = FOREVER, state: str = "running") -> str:
    job = skill.scheduler.submit(spec(name, code, labels={"submitted_by": "agent"}))
    return wait_state(skill.scheduler, job.id, state).id


def test_the_agent_stops_its_own_job_at_once_from_the_job_s_route(
    skill: AiquSkill, ledger: Ledger
) -> None:
    job = agents_job(skill, "customer-a/weld")
    result = actions.cancel_job(skill, job, turn(ledger, "chat:CA:1.1", ANN))
    assert result.proposal_id is None and result.job.state == "cancelled"


def test_a_cancel_from_another_route_needs_an_approver_of_the_job_s_route(
    skill: AiquSkill, ledger: Ledger
) -> None:
    job = agents_job(skill, "customer-a/weld")
    result = actions.cancel_job(skill, job, turn(ledger, DM))
    proposal = result.proposal_id
    assert proposal is not None and "an approver of customer-a must approve" in result.message
    assert skill.scheduler.get(job).state is JobState.RUNNING

    # B's approver says yes in their own DM: the gate refuses, the job runs on.
    t2 = turn(ledger, DM)
    ledger.confirm(proposal, BO, t2, "text")
    with pytest.raises(GateRefused, match=f"approved by {BO}, who may not approve"):
        actions.cancel_job(skill, job, t2, proposal)
    assert skill.scheduler.get(job).state is JobState.RUNNING


def test_a_cancel_approved_by_the_job_s_route_runs(skill: AiquSkill, ledger: Ledger) -> None:
    job = agents_job(skill, "customer-a/weld")
    proposal = actions.cancel_job(skill, job, turn(ledger, DM)).proposal_id
    assert proposal is not None
    t2 = turn(ledger, DM, ANN)
    ledger.confirm(proposal, ANN, t2, "button")
    result = actions.cancel_job(skill, job, t2, proposal)
    assert result.job.state == "cancelled" and f"approved by {ANN}" in result.message


def test_a_requeue_from_another_route_is_a_proposal_the_job_s_route_approves(
    skill: AiquSkill, ledger: Ledger
) -> None:
    job = agents_job(skill, "customer-a/weld", "raise SystemExit(3)", "failed")
    result = actions.requeue_job(skill, job, turn(ledger, DM))
    proposal = result.proposal_id
    assert proposal is not None and result.message.startswith("not requeued yet")
    assert [j.attempt for j in skill.scheduler.list() if j.name == "customer-a/weld"] == [1]

    t2 = turn(ledger, DM)
    ledger.confirm(proposal, BO, t2, "text")
    with pytest.raises(GateRefused, match=f"approved by {BO}, who may not approve"):
        actions.requeue_job(skill, job, t2, proposal)
    assert [j.attempt for j in skill.scheduler.list() if j.name == "customer-a/weld"] == [1]

    proposal = actions.requeue_job(skill, job, turn(ledger, DM)).proposal_id
    assert proposal is not None
    t4 = turn(ledger, DM, ANN)
    ledger.confirm(proposal, ANN, t4, "text")
    again = actions.requeue_job(skill, job, t4, proposal)
    assert again.job.attempt == 2 and f"approved by {ANN}" in again.message


def test_a_requeue_in_the_job_s_own_thread_needs_no_one(skill: AiquSkill, ledger: Ledger) -> None:
    job = agents_job(skill, "customer-a/weld", "raise SystemExit(3)", "failed")
    result = actions.requeue_job(skill, job, turn(ledger, "job:customer-a/weld", "event"))
    assert result.proposal_id is None and result.job.attempt == 2


def test_new_work_on_another_route_s_job_is_refused(skill: AiquSkill, ledger: Ledger) -> None:
    job = agents_job(skill, "customer-a/weld", "pass", "succeeded")
    from_b = turn(ledger, "chat:CB:1.1")
    with pytest.raises(NeedsHuman, match="belongs to route customer-a; start work on it only"):
        actions.submit_job(skill, job, turn_id=from_b)
    mine = agents_job(skill, "customer-b/pcb", "pass", "succeeded")
    with pytest.raises(NeedsHuman, match="belongs to route customer-a"):
        actions.submit_job(skill, mine, name="customer-a/sneaky", turn_id=from_b)
    assert actions.submit_job(skill, mine, turn_id=from_b).job.name == "customer-b/pcb"


def test_a_routed_job_needs_the_turn_id_to_tell_whose_thread_asks(
    skill: AiquSkill, ledger: Ledger
) -> None:
    job = agents_job(skill, "customer-a/weld", "raise SystemExit(3)", "failed")
    with pytest.raises(InvalidRequest, match="belongs to route customer-a: pass this turn's"):
        actions.requeue_job(skill, job)
    unrouted = agents_job(skill, "internal/resnet", "raise SystemExit(3)", "failed")
    assert actions.requeue_job(skill, unrouted).job.attempt == 2  # as on a site without routes
