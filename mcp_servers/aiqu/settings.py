"""The aiqu skill's own settings: which backend, its budget for the agent's own jobs,
quiet hours, and where jobs log metrics. Read from the skill environment's `extra`
(the supervisor passes them on as variables), with `core.skill_env`'s parsers."""

from __future__ import annotations

from dataclasses import dataclass

from core.skill_env import SkillEnvironment, Variables, amount, count, minutes, read_variables, text

VARIABLES: Variables = {
    "scheduler": ("MLOPS_SCHEDULER", text),
    "local_gpus": ("MLOPS_LOCAL_GPUS", count),
    "agent_max_jobs": ("MLOPS_AGENT_MAX_JOBS", count),
    "agent_gpu_hours": ("MLOPS_AGENT_GPU_HOURS", amount),
    "agent_default_time_limit_min": ("MLOPS_AGENT_DEFAULT_TIME_LIMIT_MIN", minutes),
    "quiet_hours": ("MLOPS_QUIET_HOURS", text),
    "tracking_uri": ("MLFLOW_TRACKING_URI", text),
}


@dataclass(frozen=True)
class AiquSettings:
    scheduler: str = "local"
    local_gpus: int | None = None  # None: what `nvidia-smi -L` lists
    agent_max_jobs: int = 2
    agent_gpu_hours: float = 8.0
    agent_default_time_limit_min: int = 60
    quiet_hours: str | None = None  # e.g. 22:00-06:00
    tracking_uri: str | None = None  # where jobs log metrics (MLflow)

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> AiquSettings:
        """Raises SkillEnvironmentError naming a bad variable."""
        return cls(**read_variables(VARIABLES, env.extra))
