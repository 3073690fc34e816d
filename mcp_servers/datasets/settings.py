"""The datasets skill's own settings: where the dataset store is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.skill_env import SkillEnvironment, Variables, read_variables

VARIABLES: Variables = {"root": ("MLOPS_DATASETS_ROOT", Path)}


@dataclass(frozen=True)
class DatasetsSettings:
    root: Path

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> DatasetsSettings:
        """`MLOPS_DATASETS_ROOT`, else <state_dir>/datasets."""
        return cls(**{"root": env.state / "datasets", **read_variables(VARIABLES, env.extra)})
