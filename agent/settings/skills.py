"""The settings only the skills read: their backends and the budgets they enforce.

One group, kept apart so that each skill can later carry its own part in its own
folder. The supervisor hands them to the skills' processes (`agent.service.skills`,
`core.skill_env`); nothing else in the service decides on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from core.clock import QuietHours
from core.skill_env import DEFAULT_PROPOSAL_TTL_S


class SkillSettings(BaseSettings):
    """Each backend is one setting away from the real thing (MLOPS_SCHEDULER, …)."""

    if TYPE_CHECKING:
        # The service's state dir (agent.settings.groups.ServiceSettings); a field there.
        state_dir: Path

    scheduler: Literal["local", "slurm", "ray"] = "local"
    local_gpus: int | None = Field(None, ge=0)
    datasets_root: Path | None = None  # None: <state_dir>/datasets
    git_repos: str | None = None  # JSON, see mcp_servers.git
    proposal_ttl_s: float = Field(DEFAULT_PROPOSAL_TTL_S, gt=0)

    # Budgets the skills enforce on what the agent starts by itself.
    agent_max_jobs: int = Field(2, ge=0)
    agent_gpu_hours: float = Field(8.0, ge=0)
    agent_default_time_limit_min: int = Field(60, gt=0)

    quiet_hours: str | None = None  # e.g. 22:00-06:00: the agent starts no new work then

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet_empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        QuietHours.parse(value)
        return value

    @property
    def resolved_datasets_root(self) -> Path:
        return (self.datasets_root or self.state_dir / "datasets").resolve()
