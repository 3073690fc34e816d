"""Choosing the backend from the environment, and the doctor's health check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment, SkillEnvironmentError
from mcp_servers.aiqu.backends.base import Health, Scheduler, SchedulerError
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.backends.processes import detect_gpus
from mcp_servers.aiqu.settings import AiquSettings
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.skill import health as skill_health
from mcp_servers.aiqu.skill import make_scheduler as scheduler_of


# Each takes the variables as `python -m mcp_servers aiqu` reads them.
def make_scheduler(env: dict[str, str]) -> Scheduler:
    return scheduler_of(SkillEnvironment.from_env(env))


def make_skill(env: dict[str, str]) -> AiquSkill:
    return AiquSkill.from_env(SkillEnvironment.from_env(env))


def health(env: dict[str, str]) -> Health:
    return skill_health(SkillEnvironment.from_env(env))


def test_local_is_the_default_and_keeps_state_in_the_state_dir(state_dir: Path):
    scheduler = make_scheduler({"MLOPS_STATE_DIR": str(state_dir), "MLOPS_LOCAL_GPUS": "3"})
    assert isinstance(scheduler, LocalScheduler)
    assert scheduler.gpu_total() == 3
    scheduler.close()
    assert (state_dir / "aiqu" / "local.sqlite").exists()


def test_slurm_is_one_setting_away(state_dir: Path):
    scheduler = make_scheduler({"MLOPS_STATE_DIR": str(state_dir), "MLOPS_SCHEDULER": "slurm"})
    assert type(scheduler).__name__ == "SlurmScheduler"


def test_unknown_backend_names_the_valid_ones(state_dir: Path):
    with pytest.raises(
        SchedulerError, match="MLOPS_SCHEDULER must be one of local, slurm, ray; got 'k8s'"
    ):
        make_scheduler({"MLOPS_STATE_DIR": str(state_dir), "MLOPS_SCHEDULER": "k8s"})


def test_invalid_gpu_count_names_the_variable(state_dir: Path):
    with pytest.raises(
        SkillEnvironmentError, match="MLOPS_LOCAL_GPUS='two': must be a whole number >= 0"
    ):
        make_scheduler({"MLOPS_STATE_DIR": str(state_dir), "MLOPS_LOCAL_GPUS": "two"})


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has nvidia-smi")
def test_without_nvidia_smi_the_machine_has_no_gpus(state_dir: Path):
    assert detect_gpus() == 0
    scheduler = make_scheduler({"MLOPS_STATE_DIR": str(state_dir)})
    assert scheduler.gpu_total() == 0


def test_skill_reads_budget_limits(state_dir: Path):
    skill = make_skill(
        {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_LOCAL_GPUS": "0", "MLOPS_AGENT_MAX_JOBS": "4"}
    )
    try:
        assert skill.budget.limits.max_jobs == 4
        assert (state_dir / "aiqu" / "budget.sqlite").exists()
        # The sweeps database is made at the first sweep call, not at start.
        assert not (state_dir / "aiqu" / "sweeps.db").exists()
    finally:
        skill.close()


def test_health_reports_the_local_backend(state_dir: Path):
    report = health({"MLOPS_STATE_DIR": str(state_dir), "MLOPS_LOCAL_GPUS": "2"})
    assert report.ok
    assert report.detail.startswith("local scheduler: 2 GPU(s), 0 running, 0 pending")


def test_health_turns_a_bad_setting_into_a_failed_check(state_dir: Path):
    # A malformed number is refused by the skill's own settings, naming the variable ...
    env = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_AGENT_GPU_HOURS": "lots"}
    with pytest.raises(SkillEnvironmentError, match="MLOPS_AGENT_GPU_HOURS"):
        AiquSettings.from_env(SkillEnvironment.from_env(env))
    # ... and a well-formed setting the skill cannot use is a failed check, not a traceback.
    report = skill_health(SkillEnvironment(state_dir=state_dir, extra={"MLOPS_SCHEDULER": "k8s"}))
    assert not report.ok
    assert "MLOPS_SCHEDULER" in report.detail


def test_health_fails_when_the_state_dir_is_unusable(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    report = health({"MLOPS_STATE_DIR": str(blocker), "MLOPS_LOCAL_GPUS": "1"})
    assert not report.ok
    assert str(blocker) in report.detail
