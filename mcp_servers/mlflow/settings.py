"""The mlflow skill's own settings: the team's tracking server, and how every process
that talks to MLflow runs."""

from __future__ import annotations

from dataclasses import dataclass

from core.skill_env import SkillEnvironment, Variables, read_variables, text

VARIABLES: Variables = {"tracking_uri": ("MLFLOW_TRACKING_URI", text)}

# What every process that uses MLflow runs with (the skill, jobs, the embedded server;
# a job's own `env` may turn it back on). MLflow's telemetry thread reaches for the
# internet (these sites have none) and, when it gives up, deletes a variable from
# os.environ while MLflow calls on another thread read it: seen on a loaded machine, a
# sweep trial's first `log_params` failed with KeyError '_MLFLOW_TELEMETRY_SESSION_ID'.
MLFLOW_OFFLINE = {"MLFLOW_DISABLE_TELEMETRY": "true"}


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str | None = None

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> MlflowSettings:
        return cls(**read_variables(VARIABLES, env.extra))
