"""What the Slurm backend refuses or reports before any Slurm is reached (no root needed).

Every Slurm command of these schedulers runs behind the prefix `false`, so a
refusal that names the bad input (and not "sbatch failed") proves it was
refused before anything was sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec, SchedulerError
from mcp_servers.aiqu.backends.slurm import SlurmScheduler


@pytest.fixture
def unreachable(state_dir: Path) -> SlurmScheduler:
    env = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_SLURM_COMMAND_PREFIX": "false", "PATH": "/bin"}
    return SlurmScheduler.from_env(SkillEnvironment.from_env(env))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (JobSpec(name=" ", command=["true"]), "job name must be one non-empty line"),
        (JobSpec(name="a\nb", command=["true"]), "job name must be one non-empty line"),
        (JobSpec(name="a", command=[]), "command must be a non-empty list of strings"),
        (JobSpec(name="a", command=["true"], gpus=-1), "gpus must be 0 or more, got -1"),
        (
            JobSpec(name="a", command=["true"], time_limit_min=0),
            "time_limit_min must be a positive number",
        ),
        (JobSpec(name="a", command=["true"], env={"A B": "x"}), r"env names must look like MY_VAR"),
    ],
)
def test_invalid_spec_is_refused_before_sbatch(
    unreachable: SlurmScheduler, spec: JobSpec, message: str
) -> None:
    with pytest.raises(SchedulerError, match=message):
        unreachable.submit(spec)


@pytest.mark.parametrize("job_id", ["-1", "--signal=KILL", "12a", ""])
def test_job_ids_that_are_not_numbers_never_reach_slurm(
    unreachable: SlurmScheduler, job_id: str
) -> None:
    for call in (unreachable.get, unreachable.cancel, unreachable.requeue, unreachable.logs):
        with pytest.raises(SchedulerError, match="Slurm job ids are whole numbers, e.g. '4242'"):
            call(job_id)


def test_a_refused_sbatch_is_reported_with_its_exit_status(unreachable: SlurmScheduler) -> None:
    with pytest.raises(SchedulerError, match=r"^sbatch failed \(exit 1\): no output$"):
        unreachable.submit(JobSpec(name="a", command=["true"]))


def test_missing_slurm_commands_are_named(state_dir: Path) -> None:
    scheduler = SlurmScheduler(state_dir, command_prefix=["/nonexistent/nsenter"])

    health = scheduler.health()

    assert not health.ok
    assert health.detail.startswith("scontrol not found: install Slurm's client commands")


def test_settings_come_from_the_environment(state_dir: Path, tmp_path: Path) -> None:
    SlurmScheduler.from_env(SkillEnvironment(state_dir=state_dir))
    assert (state_dir / "aiqu" / "slurm-logs").is_dir()
    assert (state_dir / "aiqu" / "slurm.sqlite").is_file()

    SlurmScheduler.from_env(
        SkillEnvironment.from_env(
            {
                "MLOPS_STATE_DIR": str(state_dir),
                "MLOPS_SLURM_LOG_DIR": str(tmp_path / "shared-logs"),
            }
        )
    )
    assert (tmp_path / "shared-logs").is_dir()
