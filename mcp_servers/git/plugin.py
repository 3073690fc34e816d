"""git as a plugin: its settings, gated write, health check and server."""

from __future__ import annotations

import logging

from core.ledger import LedgerError
from core.proposals import GateContext
from core.skill_env import SkillEnvironment
from mcp_servers.plugin import ProposalKind, Skill, StartupError

from .kinds import GIT_CHANGE
from .settings import VARIABLES, GitSettings


def serve(env: SkillEnvironment, context: GateContext) -> None:
    from .server import build_server
    from .skill import GitSkill

    try:
        skill = GitSkill.from_env(env, context)
    except (ValueError, LedgerError) as exc:  # ConfigError, SkillEnvironmentError: ValueErrors
        raise StartupError(str(exc)) from None
    if not skill.proposals.approvers:
        logging.warning("MLOPS_ALLOWED_USERS is empty: no approval will ever count")
    build_server(skill).run("stdio")


def check(env: SkillEnvironment) -> tuple[bool, str]:
    from .health import check as git_check

    return git_check(env)


def enabled(env: SkillEnvironment) -> bool:
    """No repos configured: no git tools to show the model."""
    return bool(GitSettings.from_env(env).repos)


SKILL = Skill(
    name="git",
    variables=VARIABLES,
    serve=serve,
    check=check,
    enabled=enabled,
    proposal_kinds=(ProposalKind(GIT_CHANGE, "git change"),),
)
