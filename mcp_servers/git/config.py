"""The git skill's own settings, as the skill environment (`core.skill_env`) carries them.

MLOPS_GIT_REPOS        JSON: {"<name>": {"path": "/clone", "remote": "origin",
                       "branch": "main", "allow": ["configs/**"]}}; only these repos
MLOPS_GIT_AUTHOR       "Name <email>" for the agent's commits

The write gate's settings (state dir, ledger key, allowed users, proposal TTL)
are the contract's own. Push credentials are whatever the inherited environment
gives git (e.g. GIT_SSH_COMMAND with a deploy key): never a tool argument the
model could see.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

DEFAULT_AUTHOR = "mlops-agent <mlops-agent@localhost>"
REPOS_EXAMPLE = (
    '{"vision": {"path": "/srv/clones/vision", "remote": "origin", "branch": "main",'
    ' "allow": ["configs/**"]}}'
)
# Conservative ref and remote names: they end up on git's command line.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")


class RepoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    remote: str = "origin"
    branch: str = "main"
    allow: tuple[str, ...] = Field(default=(), description="globs of writable paths")

    @field_validator("remote", "branch")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value) or ".." in value or value.endswith((".lock", "/")):
            raise ValueError(f"{value!r} is not a plain git name (letters, digits, . _ - /)")
        return value


def parse_repos(text: str) -> dict[str, RepoConfig]:
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or not raw:
            raise ValueError("expected a non-empty JSON object of repo name -> settings")
        repos = {}
        for name, spec in raw.items():
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
                raise ValueError(f"repo name {name!r}: use letters, digits, . _ -")
            repos[name] = RepoConfig.model_validate(spec)
        return repos
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"MLOPS_GIT_REPOS: {exc}; e.g. {REPOS_EXAMPLE}") from None


def parse_author(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*", text)
    if not match:
        raise ConfigError(
            f"MLOPS_GIT_AUTHOR: {text!r} is not 'Name <email>'; e.g. {DEFAULT_AUTHOR}"
        )
    return match.group(1), match.group(2)
