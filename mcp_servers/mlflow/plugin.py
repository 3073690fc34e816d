"""mlflow as a plugin: its settings, health check and server.

The skill's process must not import MLflow before its variables are set (MLflow reads
them when it loads), so `serve` imports everything it needs itself.
"""

from __future__ import annotations

from core.proposals import GateContext
from core.skill_env import SkillEnvironment, SkillEnvironmentError
from mcp_servers.plugin import Skill, StartupError

from .settings import MLFLOW_OFFLINE, VARIABLES


def serve(env: SkillEnvironment, _context: GateContext) -> None:
    from .slim import keep_data_science_stack_out

    keep_data_science_stack_out()  # before anything imports mlflow
    from .errors import MlflowSkillError
    from .server import build_server
    from .skill import MlflowSkill

    try:
        skill = MlflowSkill.from_env(env)
    except (SkillEnvironmentError, MlflowSkillError) as exc:
        raise StartupError(str(exc)) from None
    build_server(skill).run("stdio")


def check(env: SkillEnvironment) -> tuple[bool, str]:
    from .health import check as mlflow_check

    return mlflow_check(env)


SKILL = Skill(
    name="mlflow",
    variables=VARIABLES,
    serve=serve,
    check=check,
    environment={
        # stdout is the MCP channel: MLflow must not print run URLs there.
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        **MLFLOW_OFFLINE,
    },
    # MLflow's defaults retry for minutes with a 120 s timeout; a tool call should fail fast.
    environment_defaults={
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    },
)
