"""aiqu as a plugin: its settings, gated writes, health check and server."""

from __future__ import annotations

from core.proposals import GateContext
from core.skill_env import SkillEnvironment
from mcp_servers.plugin import ProposalKind, Skill, StartupError
from mcp_servers.sweep_views import SweepsReader

from .backends.base import SchedulerError
from .ownership import CANCEL_KIND, REQUEUE_KIND
from .settings import VARIABLES
from .sweeps import table


def serve(env: SkillEnvironment, context: GateContext) -> None:
    from .server import build_server
    from .skill import AiquSkill

    try:
        skill = AiquSkill.from_env(env, context)
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
    sweeps=SweepsReader(records=table.read_sweeps, views=table.read_views),
)
