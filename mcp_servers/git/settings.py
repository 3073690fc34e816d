"""The git skill's own settings: the repos it may read and change, and who commits."""

from __future__ import annotations

from dataclasses import dataclass

from core.skill_env import SkillEnvironment, Variables, read_variables, text

VARIABLES: Variables = {
    "repos": ("MLOPS_GIT_REPOS", text),  # JSON, see mcp_servers.git.config
    "author": ("MLOPS_GIT_AUTHOR", text),  # "Name <email>"
}


@dataclass(frozen=True)
class GitSettings:
    repos: str | None = None
    author: str | None = None

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> GitSettings:
        return cls(**read_variables(VARIABLES, env.extra))
