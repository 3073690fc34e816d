"""datasets as a plugin: its settings, health check and server (read-only: no gated writes)."""

from __future__ import annotations

import logging

from core.proposals import GateContext
from core.skill_env import SkillEnvironment, SkillEnvironmentError
from mcp_servers.plugin import Skill, StartupError

from .settings import VARIABLES, DatasetsSettings


def serve(env: SkillEnvironment, _context: GateContext) -> None:
    from .server import build_server
    from .skill import DatasetStore

    try:
        store = DatasetStore.from_env(env)
    except SkillEnvironmentError as exc:
        raise StartupError(str(exc)) from None
    logging.getLogger(__name__).info("serving datasets from %s", store.root)
    build_server(store).run("stdio")


def check(env: SkillEnvironment) -> tuple[bool, str]:
    """The default place, on a machine that has no datasets yet, is not a failure."""
    from .health import check as datasets_check

    root = DatasetsSettings.from_env(env).root
    if "MLOPS_DATASETS_ROOT" not in env.extra and not root.exists():
        return (
            True,
            f"{root} (the default) does not exist yet: put datasets there as <name>/<version>/",
        )
    return datasets_check(env)


SKILL = Skill(name="datasets", variables=VARIABLES, serve=serve, check=check)
