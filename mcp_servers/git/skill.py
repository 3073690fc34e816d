"""The git skill's injected client: the repos, the guard ledger and who may approve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.ledger import Ledger

from .config import DEFAULT_AUTHOR, parse_author, settings_from_env
from .repos import GitRepos


@dataclass(frozen=True)
class GitSkill:
    repos: GitRepos
    ledger: Ledger
    allowed_users: frozenset[str]
    author: tuple[str, str] = parse_author(DEFAULT_AUTHOR)


def make_skill(env: Mapping[str, str]) -> GitSkill:
    """Build the skill from its environment; raises ValueError naming a bad variable."""
    settings = settings_from_env(env)
    if not settings.ledger_path.exists():
        # The service creates the ledger and its key; a skill never makes its own.
        raise ValueError(f"no guard ledger at {settings.ledger_path}: start the service first")
    ledger = Ledger.from_files(
        settings.ledger_path, settings.key_file, proposal_ttl_s=settings.proposal_ttl_s
    )
    return GitSkill(
        repos=GitRepos(settings.repos),
        ledger=ledger,
        allowed_users=settings.allowed_users,
        author=(settings.author_name, settings.author_email),
    )
