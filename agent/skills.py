"""Which skills (MCP servers) the agent gets, and the environment each one runs with.

A skill is registered when its package exists. Each gets only what it needs:
the model's API key and the Slack tokens never reach a skill. Operators'
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

SKILLS = ("aiqu", "mlflow", "datasets", "git")
PASS_THROUGH_PREFIXES = ("MLOPS_", "SLURM_", "GIT_")
NEVER_PASSED = {"MLOPS_MODEL_API_KEY"}


def skill_exists(name: str) -> bool:
    return importlib.util.find_spec(f"mcp_servers.{name}.__main__") is not None


def skill_environment(
    settings: Settings,
    *,
    tracking_uri: str | None,
    service_url: str,
    webhook_secret: str,
    ledger_key_file: Path,
) -> dict[str, str]:
    env = _pass_through(os.environ)
    state = settings.state_dir.resolve()
    env.update(
        {
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "MLOPS_STATE_DIR": str(state),
            "MLOPS_SCHEDULER": settings.scheduler,
            "MLOPS_DATASETS_ROOT": str(settings.resolved_datasets_root),
            "MLOPS_ATTACHMENTS_DIR": str(state / "attachments"),
            "MLOPS_LEDGER_KEY_FILE": str(ledger_key_file),
            "MLOPS_ALLOWED_USERS": ",".join(sorted(settings.allowed_users)),
            "MLOPS_URL": service_url,
            # Jobs the scheduler starts sign their events with it.
            "MLOPS_WEBHOOK_SECRET": webhook_secret,
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
            "MLOPS_PROPOSAL_TTL_S": str(settings.proposal_ttl_s),
            "MLOPS_AGENT_MAX_JOBS": str(settings.agent_max_jobs),
            "MLOPS_AGENT_GPU_HOURS": str(settings.agent_gpu_hours),
            "MLOPS_AGENT_DEFAULT_TIME_LIMIT_MIN": str(settings.agent_default_time_limit_min),
        }
    )
    if settings.local_gpus is not None:
        env["MLOPS_LOCAL_GPUS"] = str(settings.local_gpus)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    if settings.git_repos:
        env["MLOPS_GIT_REPOS"] = settings.git_repos
    if settings.quiet_hours:
        env["MLOPS_QUIET_HOURS"] = settings.quiet_hours
    if settings.timezone:
        env["MLOPS_TIMEZONE"] = settings.timezone
    for key in NEVER_PASSED:
        env.pop(key, None)
    return env


def skill_specs(settings: Settings, environment: dict[str, str]) -> list[McpServerSpec]:
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
                environment=dict(environment),
            )
        )
    return specs


def _pass_through(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in environ.items()
        if k.startswith(PASS_THROUGH_PREFIXES) and k not in NEVER_PASSED
    }
