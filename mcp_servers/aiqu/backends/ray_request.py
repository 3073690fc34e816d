"""What aiqu sends Ray for one submission: the spec checked, then the Jobs API request.

The command is the entrypoint (`exec` + the argv, quoted), the GPUs
`entrypoint_num_gpus`, the environment, identity and route's webhook secret
`runtime_env.env_vars`, the labels the job's metadata, the workdir a package
already uploaded to the cluster (`ray_package.py`).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from core.skill_env import SkillEnvironment

from ..jobenv import identity_env, reporting_env, route_env
from .base import JobSpec, SchedulerError
from .spec_checks import check_spec


def validate(spec: JobSpec) -> None:
    check_spec(spec)
    if spec.queue is not None:
        raise SchedulerError(f"Ray has no queues; leave queue unset (got {spec.queue!r})")
    if spec.workdir is not None and not Path(spec.workdir).is_dir():
        raise SchedulerError(f"workdir {spec.workdir} is not a directory")


def submission_request(
    skill_env: SkillEnvironment,
    job_id: str,
    spec: JobSpec,
    attempt: int,
    working_dir: str | None,
) -> dict[str, Any]:
    identity = identity_env(job_id, spec.name, attempt, spec.labels)
    # Where to report, then the job's own env, then who it is and its route's secret,
    # which nothing may override.
    env = {
        **reporting_env(skill_env),
        **spec.env,
        **identity,
        **route_env(skill_env, spec.name, spec.labels),
    }
    runtime_env: dict[str, Any] = {"env_vars": env}
    if working_dir:
        runtime_env["working_dir"] = working_dir
    request: dict[str, Any] = {
        "submission_id": job_id,
        "entrypoint": entrypoint(spec.command),
        "runtime_env": runtime_env,
        "metadata": {**spec.labels, "mlops_job": spec.name, "mlops_attempt": str(attempt)},
    }
    if spec.gpus:
        request["entrypoint_num_gpus"] = spec.gpus
    return request


def entrypoint(command: list[str]) -> str:
    # exec: the command itself gets Ray's stop signal, and its exit code or signal is the
    # job's, as on the other backends.
    return "exec " + shlex.join(command)
