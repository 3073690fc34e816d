"""The mlflow skill's injected client: the team's tracking server, and where plots go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from core.skill_env import SkillEnvironment

from .errors import MlflowSkillError
from .settings import MlflowSettings


@dataclass(frozen=True)
class MlflowSkill:
    client: MlflowClient
    attachments_dir: Path  # plots are written here; the chat bridge uploads them

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> MlflowSkill:
        """MLFLOW_TRACKING_URI (required); MLOPS_ATTACHMENTS_DIR, else
        $MLOPS_STATE_DIR/attachments."""
        tracking_uri = MlflowSettings.from_env(env).tracking_uri
        if not tracking_uri:
            raise MlflowSkillError("MLFLOW_TRACKING_URI is not set (e.g. http://127.0.0.1:5000)")
        return cls(MlflowClient(tracking_uri), env.attachments.resolve())
