"""The git skill's injected client: the repos, the write gate, and the agent's commit author."""

from __future__ import annotations

from dataclasses import dataclass

from core.proposals import NO_CONTEXT, GateContext, GatedProposals
from core.skill_env import SkillEnvironment

from .config import DEFAULT_AUTHOR, REPOS_EXAMPLE, parse_author, parse_repos
from .errors import ConfigError
from .repos import GitRepos
from .settings import GitSettings


@dataclass(frozen=True)
class GitSkill:
    repos: GitRepos
    proposals: GatedProposals  # the guard ledger and who may approve
    author: tuple[str, str] = parse_author(DEFAULT_AUTHOR)

    @classmethod
    def from_env(cls, env: SkillEnvironment, context: GateContext = NO_CONTEXT) -> GitSkill:
        """ConfigError naming a missing or invalid variable; LedgerError when the service's
        ledger is not there (the service creates it and its key; a skill never makes its own)."""
        settings = GitSettings.from_env(env)
        if not settings.repos:
            raise ConfigError(f"MLOPS_GIT_REPOS is not set; e.g. {REPOS_EXAMPLE}")
        if env.state_dir is None:
            raise ConfigError("MLOPS_STATE_DIR is not set: the directory holding ledger.sqlite")
        author = parse_author(settings.author or DEFAULT_AUTHOR)
        repos = parse_repos(settings.repos)
        return cls(GitRepos(repos), GatedProposals.from_env(env, context), author)
