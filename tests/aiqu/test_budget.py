"""The agent's budgets are code: each property refused with usage and limit, changing nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu import actions
from mcp_servers.aiqu.budget import BudgetLimits
from mcp_servers.aiqu.errors import BudgetExceeded
from mcp_servers.aiqu.skill import AiquSkill

from .conftest import spec, wait_state

FOREVER = "import time; time.sleep(120)"


def human_job(skill: AiquSkill, code: str = "pass", gpus: int = 0) -> str:
    job = skill.scheduler.submit(spec("team/base", code, gpus=gpus, labels={"submitted_by": "ann"}))
    return job.id


def test_concurrent_agent_jobs_are_capped(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(max_jobs=2)
    base = human_job(skill, FOREVER)
    actions.submit_job(skill, base, name="agent/a")
    actions.submit_job(skill, base, name="agent/b")
    jobs_before = len(skill.scheduler.list())
    with pytest.raises(BudgetExceeded, match="agent-submitted active jobs would be 3 of 2 allowed"):
        actions.submit_job(skill, base, name="agent/c")
    assert len(skill.scheduler.list()) == jobs_before


def test_people_s_jobs_do_not_count_against_the_agent(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(max_jobs=1)
    base = human_job(skill, FOREVER)
    human_job(skill, FOREVER)
    assert actions.submit_job(skill, base).job.submitted_by == "agent"


def test_an_ended_agent_job_frees_its_slot(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(max_jobs=1)
    base = human_job(skill, "pass")
    first = actions.submit_job(skill, base, name="agent/a").job
    wait_state(skill.scheduler, first.id, "succeeded")
    assert actions.submit_job(skill, base, name="agent/b").job.name == "agent/b"


def test_gpu_hours_in_24h_are_capped(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(gpus=2, max_jobs=10, max_gpu_hours=8.0)
    base = human_job(skill, "pass", gpus=1)
    actions.submit_job(skill, base, gpus=2, time_limit_min=120)  # 4.0
    actions.submit_job(skill, base, gpus=1, time_limit_min=240)  # 4.0 -> 8.0, exactly allowed
    with pytest.raises(
        BudgetExceeded, match=r"agent GPU-hours in the last 24 h would be 9\.0 of 8\.0 allowed"
    ):
        actions.submit_job(skill, base, gpus=1, time_limit_min=60)


def test_gpu_hours_window_is_rolling(make_skill: Callable[..., AiquSkill]):
    now = [time.time()]
    skill = make_skill(gpus=1, max_jobs=10, max_gpu_hours=1.0, clock=lambda: now[0])
    base = human_job(skill, "pass", gpus=1)
    actions.submit_job(skill, base, gpus=1, time_limit_min=60)
    with pytest.raises(BudgetExceeded):
        actions.submit_job(skill, base, gpus=1, time_limit_min=60)
    now[0] += 24 * 3600 + 1
    actions.submit_job(skill, base, gpus=1, time_limit_min=60)
    assert skill.agent_usage().gpu_hours_24h == 1.0


def test_agent_jobs_always_get_a_time_limit(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(gpus=1, default_time_limit_min=45)
    base = human_job(skill, "pass", gpus=1)  # the person's job has no time limit
    job = actions.submit_job(skill, base).job
    assert job.time_limit_min == 45
    assert skill.agent_usage().gpu_hours_24h == 0.75


def test_requeue_by_the_agent_is_budgeted(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(gpus=1, max_jobs=10, max_gpu_hours=1.5)
    crashed = human_job(skill, "raise SystemExit(1)", gpus=1)
    wait_state(skill.scheduler, crashed, "failed")
    again = actions.requeue_job(skill, crashed).job  # 1 GPU x default 60 min
    wait_state(skill.scheduler, again.id, "failed")
    with pytest.raises(BudgetExceeded, match=r"would be 2\.0 of 1\.5 allowed"):
        actions.requeue_job(skill, again.id)


def test_requeued_job_of_a_person_counts_as_an_active_agent_job(
    make_skill: Callable[..., AiquSkill],
):
    skill = make_skill(max_jobs=1)
    # Crashes on its first attempt, runs on the next.
    code = "import os, time\nif os.environ['MLOPS_ATTEMPT'] == '1': exit(1)\ntime.sleep(120)"
    crashed = human_job(skill, code)
    wait_state(skill.scheduler, crashed, "failed")
    requeued = actions.requeue_job(skill, crashed)
    assert (requeued.job.submitted_by, requeued.job.state) == ("ann", "running")
    with pytest.raises(BudgetExceeded, match="would be 2 of 1 allowed"):
        actions.submit_job(skill, crashed, name="agent/x")


def test_a_start_the_backend_refuses_costs_nothing(make_skill: Callable[..., AiquSkill]):
    skill = make_skill(gpus=1)
    base = human_job(skill, "pass", gpus=1)
    with pytest.raises(Exception, match="asks for 2 GPU"):
        actions.submit_job(skill, base, gpus=2)
    assert skill.agent_usage().gpu_hours_24h == 0.0


def limits(env: dict[str, str]) -> BudgetLimits:
    return BudgetLimits.from_env(SkillEnvironment.from_env(env))


def test_limits_are_read_from_the_environment():
    env = {
        "MLOPS_AGENT_MAX_JOBS": "5",
        "MLOPS_AGENT_GPU_HOURS": "12.5",
        "MLOPS_AGENT_DEFAULT_TIME_LIMIT_MIN": "30",
    }
    assert limits(env) == BudgetLimits(5, 12.5, 30)
    assert limits({}) == BudgetLimits(2, 8.0, 60)


@pytest.mark.parametrize("bad", ["many", "-1", "1.5"])
def test_invalid_limit_names_the_variable(bad: str):
    with pytest.raises(
        ValueError, match=f"MLOPS_AGENT_MAX_JOBS={bad!r}: must be a whole number >= 0"
    ):
        limits({"MLOPS_AGENT_MAX_JOBS": bad})


def test_budget_survives_a_restart(make_skill: Callable[..., AiquSkill]):
    first = make_skill(gpus=1, max_gpu_hours=1.0)
    base = human_job(first, "pass", gpus=1)
    actions.submit_job(first, base, gpus=1, time_limit_min=60)
    second = make_skill(gpus=1, max_gpu_hours=1.0)  # a new skill process on the same state dir
    with pytest.raises(BudgetExceeded, match=r"would be 2\.0 of 1\.0"):
        actions.submit_job(second, base, gpus=1, time_limit_min=60)
