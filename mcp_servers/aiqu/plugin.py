"""aiqu as a plugin: its settings, gated writes, health check and server."""

from __future__ import annotations

from collections.abc import Mapping

from core.skill_env import SkillEnvironment
from mcp_servers.plugin import ProposalKind, Skill, StartupError

from .backends.base import SchedulerError
from .ownership import CANCEL_KIND, REQUEUE_KIND
from .settings import VARIABLES


def serve(env: SkillEnvironment, kinds: Mapping[str, str]) -> None:
    from .server import build_server
    from .skill import AiquSkill

    try:
        skill = AiquSkill.from_env(env, kinds)
    except (SchedulerError, ValueError) as exc:  # ValueError: a setting, quiet hours
        raise StartupError(str(exc)) from None
    try:
        skill.start()
        build_server(skill).run("stdio")
    finally:
        skill.close()


def check(env: SkillEnvironment) -> tuple[bool, str]:
    from .health import check as aiqu_check

    return aiqu_check(env)


SKILL = Skill(
    name="aiqu",
    variables=VARIABLES,
    serve=serve,
    check=check,
    check_name="scheduler",
    proposal_kinds=(
        ProposalKind(CANCEL_KIND, "job cancel"),
        ProposalKind(REQUEUE_KIND, "requeue"),
    ),
)
