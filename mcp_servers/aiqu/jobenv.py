"""The environment every job gets, whichever backend runs it.

The training-side reporter reads these: who it is (`MLOPS_JOB`,
`MLOPS_ATTEMPT`, `MLOPS_JOB_ID`, `MLOPS_LABELS`) and where to report
(`MLFLOW_TRACKING_URI`, `MLOPS_URL`, `MLOPS_WEBHOOK_SECRET`, from the skill
environment's tracking URI, service URL and webhook secret).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from core.skill_env import SkillEnvironment

# The service's own settings and chat tokens stay out of jobs unless passed on below.
PRIVATE_PREFIXES = ("MLOPS_", "SLACK_")


def identity_env(job_id: str, name: str, attempt: int, labels: Mapping[str, str]) -> dict[str, str]:
    return {
        "MLOPS_JOB": name,
        "MLOPS_ATTEMPT": str(attempt),
        "MLOPS_JOB_ID": job_id,
        "MLOPS_LABELS": json.dumps(dict(labels), sort_keys=True),
    }


def webhook_secret_for(skill_env: SkillEnvironment, job: str | None) -> str | None:
    """The secret the job `job` signs its events with. One global secret for now; per-route
    secrets (issue 22) pick the job's route's secret here, for every backend and for
    `mlops-agent submit` alike."""
    return skill_env.webhook_secret


def reporting_env(skill_env: SkillEnvironment, job: str | None = None) -> dict[str, str]:
    """Where a job's reporter sends its events and metrics."""
    given = {
        "MLFLOW_TRACKING_URI": skill_env.tracking_uri,
        "MLOPS_URL": skill_env.service_url,
        "MLOPS_WEBHOOK_SECRET": webhook_secret_for(skill_env, job),
    }
    return {key: value for key, value in given.items() if value is not None}


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
    env.update(reporting_env(skill_env, identity.get("MLOPS_JOB")))
    env.update(spec_env)
    env.update(identity)
    return env
