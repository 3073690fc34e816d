"""The one contract between the supervisor and the skills: `core.skill_env`, and a
skill's own settings read back through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment, SkillEnvironmentError
from mcp_servers.aiqu.settings import AiquSettings
from mcp_servers.datasets.settings import DatasetsSettings


def test_what_the_supervisor_writes_a_skill_reads_back() -> None:
    written = SkillEnvironment(
        state_dir=Path("/srv/state"),
        allowed_users=frozenset({"U2", "U1"}),
        proposal_ttl_s=600.0,
        service_url="http://127.0.0.1:8080",
        extra={
            "SLURM_CONF": "/etc/slurm/slurm.conf",
            "PATH": "/usr/bin",
            "MLOPS_SCHEDULER": "slurm",
            "MLOPS_LOCAL_GPUS": "0",
            "MLOPS_AGENT_GPU_HOURS": "1.5",
        },
    )
    env = written.to_env()
    assert env["MLOPS_ALLOWED_USERS"] == "U1,U2"
    assert SkillEnvironment.from_env(env) == written
    assert SkillEnvironment.from_env(env).extra == written.extra
    aiqu = AiquSettings.from_env(SkillEnvironment.from_env(env))
    assert (aiqu.scheduler, aiqu.local_gpus, aiqu.agent_gpu_hours) == ("slurm", 0, 1.5)


def test_a_skill_started_by_hand_gets_the_service_s_defaults() -> None:
    env = SkillEnvironment.from_env({"MLOPS_STATE_DIR": " ", "PATH": "/usr/bin"})
    assert env.state_dir is None and env.state == Path("state")
    assert (env.ledger_path, env.key_file) == (
        Path("state/ledger.sqlite"),
        Path("state/ledger.key"),
    )
    datasets, aiqu = DatasetsSettings.from_env(env), AiquSettings.from_env(env)
    assert (datasets.root, env.attachments) == (Path("state/datasets"), Path("state/attachments"))
    assert (aiqu.agent_max_jobs, aiqu.agent_gpu_hours, env.proposal_ttl_s) == (2, 8.0, 86400.0)
    assert "MLOPS_STATE_DIR" not in env.to_env()  # not given, so not handed on as given


@pytest.mark.parametrize(
    ("variable", "raw", "valid"),
    [
        ("MLOPS_LOCAL_GPUS", "two", "must be a whole number >= 0, e.g. 2"),
        ("MLOPS_AGENT_MAX_JOBS", "1.5", "must be a whole number >= 0, e.g. 2"),
        ("MLOPS_AGENT_GPU_HOURS", "-1", "must be a number >= 0, e.g. 8"),
        (
            "MLOPS_AGENT_DEFAULT_TIME_LIMIT_MIN",
            "0",
            "must be a whole number of minutes > 0, e.g. 60",
        ),
        ("MLOPS_PROPOSAL_TTL_S", "a day", "must be a number of seconds > 0, e.g. 86400"),
        ("MLOPS_PROPOSAL_TTL_S", "0", "must be a number of seconds > 0, e.g. 86400"),
    ],
)
def test_a_bad_value_names_the_variable_and_a_valid_one(
    variable: str, raw: str, valid: str
) -> None:
    with pytest.raises(SkillEnvironmentError) as refused:
        AiquSettings.from_env(SkillEnvironment.from_env({variable: raw}))
    assert str(refused.value) == f"{variable}={raw!r}: {valid}"
