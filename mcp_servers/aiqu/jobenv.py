"""The environment every job gets, whichever backend runs it.

The training-side reporter reads these: who it is (`MLOPS_JOB`,
`MLOPS_ATTEMPT`, `MLOPS_JOB_ID`, `MLOPS_LABELS`) and where to report
(`MLFLOW_TRACKING_URI`, `MLOPS_URL`, `MLOPS_WEBHOOK_SECRET`, from the skill
environment's tracking URI, service URL and webhook secret).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from core.routes import Routes
from core.skill_env import SkillEnvironment
from core.webhook_secrets import job_webhook_secret
from mcp_servers.aiqu.settings import AiquSettings
from mcp_servers.aiqu.sweeps.table import sweep_base_jobs
from mcp_servers.mlflow.settings import MLFLOW_OFFLINE

# The service's own settings and chat tokens stay out of jobs unless passed on below.
PRIVATE_PREFIXES = ("MLOPS_", "SLACK_")


def identity_env(job_id: str, name: str, attempt: int, labels: Mapping[str, str]) -> dict[str, str]:
    return {
        "MLOPS_JOB": name,
        "MLOPS_ATTEMPT": str(attempt),
        "MLOPS_JOB_ID": job_id,
        "MLOPS_LABELS": json.dumps(dict(labels), sort_keys=True),
    }


_ROUTES: dict[tuple[Path, float], Routes] = {}


def skill_job_secret(env: SkillEnvironment, job: str, labels: Mapping[str, str]) -> str | None:
    """`core.webhook_secrets.job_webhook_secret` from the skill's environment: the routes
    file it names (read once per version of the file) and the sweeps in its state dir."""
    if env.routes_file is None:
        return env.webhook_secret
    path = Path(env.routes_file)
    key = (path, path.stat().st_mtime)
    if key not in _ROUTES:
        _ROUTES.clear()
        _ROUTES[key] = Routes.load(path, allowed_users=env.allowed_users, default_channel=None)
    base_jobs = sweep_base_jobs(env.state)
    return job_webhook_secret(_ROUTES[key], env.webhook_secret, job, labels, base_jobs.get)


def route_env(skill_env: SkillEnvironment, name: str, labels: Mapping[str, str]) -> dict[str, str]:
    """The webhook secret of the job's route (`core.webhook_secrets`): one customer's job
    cannot sign events as another's. Nothing the job's own `env` says overrides it."""
    secret = skill_job_secret(skill_env, name, labels)
    return {"MLOPS_WEBHOOK_SECRET": secret} if secret else {}


def reporting_env(skill_env: SkillEnvironment) -> dict[str, str]:
    """Where a job's reporter sends its events and metrics, and how."""
    given = {
        "MLFLOW_TRACKING_URI": AiquSettings.from_env(skill_env).tracking_uri,
        "MLOPS_URL": skill_env.service_url,
        "MLOPS_WEBHOOK_SECRET": skill_env.webhook_secret,
    }
    return {key: value for key, value in given.items() if value is not None} | MLFLOW_OFFLINE


def job_env(
    skill_env: SkillEnvironment,
    spec_env: Mapping[str, str],
    identity: Mapping[str, str],
) -> dict[str, str]:
    """The full environment of a job started as a local process.

    Order matters: the skill's environment (minus private settings), then where
    to report, then the job's own `env`, then its identity, which nothing may
    override.
    """
    env = {k: v for k, v in skill_env.to_env().items() if not k.startswith(PRIVATE_PREFIXES)}
    env.update(reporting_env(skill_env))
    env.update(spec_env)
    env.update(identity)
    return env
