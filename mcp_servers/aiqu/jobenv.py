"""The environment every job gets, whichever backend runs it.

The training-side reporter reads these: who it is (`MLOPS_JOB`,
`MLOPS_ATTEMPT`, `MLOPS_JOB_ID`, `MLOPS_LABELS`) and where to report
(`MLFLOW_TRACKING_URI`, `MLOPS_URL`, `MLOPS_WEBHOOK_SECRET`, passed through
from the skill's own environment).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

PASS_THROUGH = ("MLFLOW_TRACKING_URI", "MLOPS_URL", "MLOPS_WEBHOOK_SECRET")
# The service's own settings and chat tokens stay out of jobs unless passed through above.
PRIVATE_PREFIXES = ("MLOPS_", "SLACK_")


def identity_env(job_id: str, name: str, attempt: int, labels: Mapping[str, str]) -> dict[str, str]:
    return {
        "MLOPS_JOB": name,
        "MLOPS_ATTEMPT": str(attempt),
        "MLOPS_JOB_ID": job_id,
        "MLOPS_LABELS": json.dumps(dict(labels), sort_keys=True),
    }


def pass_through_env(skill_env: Mapping[str, str]) -> dict[str, str]:
    return {key: skill_env[key] for key in PASS_THROUGH if key in skill_env}


def job_env(
    skill_env: Mapping[str, str],
    spec_env: Mapping[str, str],
    identity: Mapping[str, str],
) -> dict[str, str]:
    """The full environment of a job started as a local process.

    Order matters: the skill's environment (minus private settings), then the
    pass-through variables, then the job's own `env`, then its identity, which
    nothing may override.
    """
    env = {k: v for k, v in skill_env.items() if not k.startswith(PRIVATE_PREFIXES)}
    env.update(pass_through_env(skill_env))
    env.update(spec_env)
    env.update(identity)
    return env
