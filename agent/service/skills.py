"""Which skills (MCP servers) the agent gets, and the environment each one runs with.

The skills are the plugins `mcp_servers.registry` lists. Each gets the skill
environment contract (`core.skill_env`), the skills' own settings as variables,
and only what it needs besides:
the model's API key, the Slack tokens and the web users' password hashes never
reach a skill. Operators'
`MLOPS_*`, `SLURM_*` and `GIT_*` variables pass through, so a backend is one
setting away (e.g. `MLOPS_SCHEDULER=slurm`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from agent.opencode.config import McpServerSpec
from agent.settings import Settings
from core.skill_env import SkillEnvironment
from mcp_servers import registry

PASS_THROUGH_PREFIXES = ("MLOPS_", "SLURM_", "GIT_")
NEVER_PASSED = {"MLOPS_MODEL_API_KEY", "MLOPS_MODEL_API_KEY_FILE", "MLOPS_WEB_USERS"}
SETTINGS_PREFIX = "MLOPS_"
TRACKING_VARIABLE = "MLFLOW_TRACKING_URI"  # where MLflow is: the service may run its own


def skill_environment(
    settings: Settings,
    *,
    tracking_uri: str | None,
    service_url: str,
    webhook_secret: str,
    ledger_key_file: Path,
    clock_file: Path | None = None,
) -> SkillEnvironment:
    """The contract every skill is started with (`core.skill_env`), the skills' own
    settings as the operator gave them to the service (variables, `.env`, files) in
    `extra`, and the variables each skill's processes run with."""
    state = settings.state_dir.resolve()
    extra = _pass_through(os.environ)
    extra.update(skill_settings(settings, tracking_uri))
    extra.update(registry.environment())
    extra["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return SkillEnvironment(
        state_dir=state,
        attachments_dir=state / "attachments",
        ledger_key_file=ledger_key_file,
        # Who may approve a write: the skills' gate checks each confirmation against it.
        allowed_users=settings.approvers,
        proposal_ttl_s=settings.proposal_ttl_s,
        service_url=service_url,
        # Jobs the scheduler starts sign their events with it.
        webhook_secret=webhook_secret,
        routes_file=settings.routes.resolve() if settings.routes else None,
        timezone=settings.timezone,
        clock_file=clock_file,  # a virtual clock: the eval harness's scenario time
        extra={k: v for k, v in extra.items() if k not in NEVER_PASSED},
    )


def skill_settings(settings: Settings, tracking_uri: str | None) -> dict[str, str]:
    """Each variable a skill declares (`mcp_servers/<name>/settings.py`) that the service's
    settings hold, by the same name (`MLOPS_GIT_REPOS` is `Settings.git_repos`); where
    MLflow is, as the service decided (the team's, or the one it runs itself)."""
    values: dict[str, str] = {}
    for skill in registry.SKILLS:
        for variable, _ in skill.variables.values():
            field = variable.removeprefix(SETTINGS_PREFIX).lower()
            value = getattr(settings, field, None) if variable.startswith(SETTINGS_PREFIX) else None
            if value is not None:
                values[variable] = str(value.resolve() if isinstance(value, Path) else value)
    if tracking_uri is not None:
        values[TRACKING_VARIABLE] = tracking_uri
    return values


def skill_specs(environment: SkillEnvironment) -> list[McpServerSpec]:
    """The skills the model gets on this site, each as `python -m mcp_servers <name>`."""
    env = environment.to_env()
    return [
        McpServerSpec(
            name=skill.name,
            command=[sys.executable, "-m", "mcp_servers", skill.name],
            environment=dict(env),
        )
        for skill in registry.SKILLS
        if skill.enabled(environment)
    ]


def _pass_through(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in environ.items()
        if k.startswith(PASS_THROUGH_PREFIXES) and k not in NEVER_PASSED
    }
