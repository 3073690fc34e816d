"""The aiqu skill with `MLOPS_SCHEDULER=ray`, unchanged: the agent's budgets, and a sweep whose
trials are Ray jobs, on a real Ray head. (Its tools over stdio: tests/scheduler.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_servers.aiqu import actions
from mcp_servers.aiqu.backends.base import Job, JobState
from mcp_servers.aiqu.backends.ray import RayScheduler
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits
from mcp_servers.aiqu.errors import BudgetExceeded
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps import actions as sweeps
from mcp_servers.aiqu.sweeps.book import SweepBook, SweepLimitReached
from tests.aiqu.conftest import spec
from tests.ray.conftest import job_when, sh
from tests.sweeps.conftest import TRIAL_CODE

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
LR = {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}


@pytest.fixture
def make_skill(ray: RayScheduler, state_dir: Path) -> Iterator[Callable[..., AiquSkill]]:
    """The skill's tools over the Ray backend, with the budgets asked for."""
    made: list[AiquSkill] = []

    def make(book: SweepBook | None = None, **limits: Any) -> AiquSkill:
        skill = AiquSkill(ray, AgentBudget(state_dir, BudgetLimits(**limits)), None, book)
        made.append(skill)
        return skill

    yield make
    for skill in made:
        skill.budget.close()
        if skill.book is not None:
            skill.book.close()


def test_the_agent_s_job_budget_holds_on_ray(make_skill: Callable[..., AiquSkill]) -> None:
    skill = make_skill(max_jobs=2)
    base = skill.scheduler.submit(sh("sleep 60", labels={"submitted_by": "ann"})).id
    first = actions.submit_job(skill, base, name="agent/a").job
    actions.submit_job(skill, base, name="agent/b")
    held = len(skill.scheduler.list())

    with pytest.raises(BudgetExceeded, match="agent-submitted active jobs would be 3 of 2"):
        actions.submit_job(skill, base, name="agent/c")
    assert len(skill.scheduler.list()) == held  # nothing reached the cluster
    actions.cancel_job(skill, first.id)
    assert actions.submit_job(skill, base, name="agent/c").job.name == "agent/c"  # slot freed


def test_the_agent_s_gpu_hours_hold_on_ray(make_skill: Callable[..., AiquSkill]) -> None:
    skill = make_skill(max_jobs=5, max_gpu_hours=1.5, default_time_limit_min=60)
    base = skill.scheduler.submit(sh("true", gpus=1, labels={"submitted_by": "ann"})).id
    job_when(skill.scheduler, base, lambda j: not j.state.active)  # type: ignore[arg-type]
    actions.submit_job(skill, base, name="agent/a")

    with pytest.raises(BudgetExceeded, match=r"GPU-hours in the last 24 h would be 2.0 of 1.5"):
        actions.submit_job(skill, base, name="agent/b")
    # Fewer GPU-hours fit: half an hour of one GPU.
    assert actions.submit_job(skill, base, name="agent/b", time_limit_min=30).job.gpus == 1


def test_a_sweep_s_trials_are_ray_jobs_within_its_limits(
    make_skill: Callable[..., AiquSkill], state_dir: Path
) -> None:
    skill = make_skill(book=SweepBook(state_dir), max_jobs=10, max_gpu_hours=8.0)
    base = skill.scheduler.submit(
        spec("team/train", TRIAL_CODE, gpus=1, labels={"submitted_by": "alice"})
    )
    base_job: Job = job_when(skill.scheduler, base.id, lambda j: not j.state.active)  # type: ignore[arg-type]
    sweeps.start_sweep(
        skill, "s1", base_job.id, "val_loss", "minimize", LR,
        max_trials=3, max_parallel=2, trial_time_limit_min=5, fixed_params={"sleep": 30},
    )  # fmt: skip

    first = sweeps.next_trial(skill, "s1")
    sweeps.next_trial(skill, "s1")
    with pytest.raises(SweepLimitReached, match="2 of 2 parallel trials allowed"):
        sweeps.next_trial(skill, "s1")
    job = job_when(skill.scheduler, first.job_id, lambda j: j.state is JobState.RUNNING)  # type: ignore[arg-type]
    until_logged = time.monotonic() + 60
    while not skill.scheduler.logs(job.id) and time.monotonic() < until_logged:
        time.sleep(0.2)
    reported = sweeps.report_trial(skill, "s1", first.trial, 0.4)
    third = sweeps.next_trial(skill, "s1")

    assert job.labels["sweep"] == "s1" and job.labels["trial"] == "0"
    assert job.labels["submitted_by"] == "agent" and job.name == "s1/trial-0"
    assert job.spec is not None and job.spec.gpus == 1 and job.spec.time_limit_min == 5
    assert f"--lr={first.params['lr']}" in job.spec.command
    assert skill.scheduler.logs(job.id).startswith("args [('lr', ")
    assert reported.state == "complete" and third.trial == 2
