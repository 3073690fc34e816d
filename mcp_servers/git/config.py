"""The git skill's settings, read from the environment the supervisor hands it.

MLOPS_GIT_REPOS        JSON: {"<name>": {"path": "/clone", "remote": "origin",
                       "branch": "main", "allow": ["configs/**"]}}; only these repos
MLOPS_STATE_DIR        where the guard ledger lives (ledger.sqlite)
MLOPS_LEDGER_KEY_FILE  the ledger key (default: $MLOPS_STATE_DIR/ledger.key)
MLOPS_ALLOWED_USERS    comma-separated people whose approval counts
MLOPS_GIT_AUTHOR       "Name <email>" for the agent's commits
MLOPS_PROPOSAL_TTL_S   seconds a proposal stays open (default 24 h)

Push credentials are whatever the inherited environment gives git (e.g.
GIT_SSH_COMMAND with a deploy key): never a tool argument the model could see.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_AUTHOR = "mlops-agent <mlops-agent@localhost>"
REPOS_EXAMPLE = (
    '{"vision": {"path": "/srv/clones/vision", "remote": "origin", "branch": "main",'
    ' "allow": ["configs/**"]}}'
)
# Conservative ref and remote names: they end up on git's command line.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


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


@dataclass(frozen=True)
class GitSkillSettings:
    repos: dict[str, RepoConfig]
    ledger_path: Path
    key_file: Path
    allowed_users: frozenset[str]
    author_name: str
    author_email: str
    proposal_ttl_s: float


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


def settings_from_env(env: Mapping[str, str]) -> GitSkillSettings:
    if not env.get("MLOPS_GIT_REPOS"):
        raise ConfigError(f"MLOPS_GIT_REPOS is not set; e.g. {REPOS_EXAMPLE}")
    if not env.get("MLOPS_STATE_DIR"):
        raise ConfigError("MLOPS_STATE_DIR is not set: the directory holding ledger.sqlite")
    state_dir = Path(env["MLOPS_STATE_DIR"])
    name, email = parse_author(env.get("MLOPS_GIT_AUTHOR") or DEFAULT_AUTHOR)
    try:
        ttl = float(env.get("MLOPS_PROPOSAL_TTL_S") or 24 * 3600)
    except ValueError:
        raise ConfigError("MLOPS_PROPOSAL_TTL_S: must be a number of seconds, e.g. 86400") from None
    users = env.get("MLOPS_ALLOWED_USERS", "")
    return GitSkillSettings(
        repos=parse_repos(env["MLOPS_GIT_REPOS"]),
        ledger_path=state_dir / "ledger.sqlite",
        key_file=Path(env.get("MLOPS_LEDGER_KEY_FILE") or state_dir / "ledger.key"),
        allowed_users=frozenset(u.strip() for u in users.split(",") if u.strip()),
        author_name=name,
        author_email=email,
        proposal_ttl_s=ttl,
    )
