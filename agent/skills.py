"""Which skills (MCP servers) the agent gets, and the environment each one runs with.

A skill is registered when its package exists. Each gets the skill environment
contract (`core.skill_env`) and only what it needs besides:
the model's API key, the Slack tokens and the web users' password hashes never
reach a skill. Operators'
`MLOPS_*`, `SLURM_*` and `GIT_*` variables pass through, so a backend is one
setting away (e.g. `MLOPS_SCHEDULER=slurm`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from agent.opencode.config import McpServerSpec
from agent.settings import Settings
from core.skill_env import MLFLOW_OFFLINE, SkillEnvironment

SKILLS = ("aiqu", "mlflow", "datasets", "git")
PASS_THROUGH_PREFIXES = ("MLOPS_", "SLURM_", "GIT_")
NEVER_PASSED = {"MLOPS_MODEL_API_KEY", "MLOPS_MODEL_API_KEY_FILE", "MLOPS_WEB_USERS"}


def skill_exists(name: str) -> bool:
    return importlib.util.find_spec(f"mcp_servers.{name}.__main__") is not None


def skill_environment(
    settings: Settings,
    *,
    tracking_uri: str | None,
    service_url: str,
    webhook_secret: str,
    ledger_key_file: Path,
    clock_file: Path | None = None,
) -> SkillEnvironment:
    """The contract every skill is started with (`core.skill_env`)."""
    state = settings.state_dir.resolve()
    extra = _pass_through(os.environ)
    extra.update(
        {
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
            **MLFLOW_OFFLINE,
        }
    )
    return SkillEnvironment(
        state_dir=state,
        scheduler=settings.scheduler,
        local_gpus=settings.local_gpus,
        datasets_root=settings.resolved_datasets_root,
        attachments_dir=state / "attachments",
        ledger_key_file=ledger_key_file,
        # Who may approve a write: the skills' gate checks each confirmation against it.
        allowed_users=settings.approvers,
        proposal_ttl_s=settings.proposal_ttl_s,
        service_url=service_url,
        # Jobs the scheduler starts sign their events with it.
        webhook_secret=webhook_secret,
        tracking_uri=tracking_uri,
        git_repos=settings.git_repos,
        git_author=extra.get("MLOPS_GIT_AUTHOR"),
        agent_max_jobs=settings.agent_max_jobs,
        agent_gpu_hours=settings.agent_gpu_hours,
        agent_default_time_limit_min=settings.agent_default_time_limit_min,
        routes_file=settings.routes.resolve() if settings.routes else None,
        quiet_hours=settings.quiet_hours,
        timezone=settings.timezone,
        clock_file=clock_file,  # a virtual clock: the eval harness's scenario time
        extra={k: v for k, v in extra.items() if k not in NEVER_PASSED},
    )


def skill_specs(settings: Settings, environment: SkillEnvironment) -> list[McpServerSpec]:
    env = environment.to_env()
    specs = []
    for name in SKILLS:
        if not skill_exists(name):
            continue
        if name == "git" and not settings.git_repos:
            continue  # no repos configured: no git tools to show the model
        specs.append(
            McpServerSpec(
                name=name,
                command=[sys.executable, "-m", f"mcp_servers.{name}"],
                environment=dict(env),
            )
        )
    return specs


def _pass_through(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in environ.items()
        if k.startswith(PASS_THROUGH_PREFIXES) and k not in NEVER_PASSED
    }
