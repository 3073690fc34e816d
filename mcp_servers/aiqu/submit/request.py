"""A submission as `mlops-agent submit` sends it, checked, and queued."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..actions import JOB_NAME
from ..backends.base import Job, JobSpec, SchedulerError
from ..backends.local import LocalScheduler
from ..jobenv import PRIVATE_PREFIXES
from ..ownership import SUBMITTED_BY

# The submitter's variables a job does not inherit: the service's own settings and chat
# secrets, and where to report, which the service sets itself.
NOT_INHERITED_PREFIXES = (*PRIVATE_PREFIXES, "MATRIX_")
NOT_INHERITED = ("MLFLOW_TRACKING_URI",)


class BadSubmission(ValueError):
    """The request cannot be queued; the message says what would be valid."""


@dataclass(frozen=True)
class Submission:
    name: str
    command: list[str]
    gpus: int
    time_limit_min: int | None
    owner: str
    workdir: str
    env: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Submission:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise BadSubmission(f"the request is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise BadSubmission("the request is a JSON object")
        command = raw.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(a, str) for a in command)
        ):
            raise BadSubmission("no command to run: give it after --, e.g. -- python train.py")
        name = raw.get("name")
        if not isinstance(name, str) or not JOB_NAME.fullmatch(name):
            raise BadSubmission(
                f"invalid job name {name!r}: letters, digits and . _ / - (up to 128),"
                " e.g. customer-a/weld-defect-v4"
            )
        gpus, limit = raw.get("gpus", 0), raw.get("time_limit_min")
        if not isinstance(gpus, int) or gpus < 0:
            raise BadSubmission(f"--gpus must be a whole number >= 0, got {gpus!r}")
        if limit is not None and (not isinstance(limit, int) or limit <= 0):
            raise BadSubmission(f"--time-limit must be a whole number of minutes > 0, got {limit}")
        owner, workdir, env = raw.get("owner"), raw.get("workdir"), raw.get("env", {})
        if not isinstance(owner, str) or not owner.strip():
            raise BadSubmission("--owner must name a person, e.g. ann or U0ANN")
        if not isinstance(workdir, str) or not Path(workdir).is_dir():
            raise BadSubmission(f"the working directory {workdir!r} is not a directory")
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise BadSubmission("env must map names to strings")
        return cls(name, list(command), gpus, limit, owner.strip(), workdir, inherited(env))

    def spec(self) -> JobSpec:
        return JobSpec(
            name=self.name,
            command=self.command,
            gpus=self.gpus,
            workdir=self.workdir,
            env=self.env,
            labels={SUBMITTED_BY: self.owner},
            time_limit_min=self.time_limit_min,
        )


def inherited(env: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if not k.startswith(NOT_INHERITED_PREFIXES) and k not in NOT_INHERITED
    }


def queue(scheduler: LocalScheduler, text: str) -> dict[str, Any]:
    """Queue the submission in `text`; the answer as `mlops-agent submit` prints it."""
    try:
        job = scheduler.submit(Submission.parse(text).spec())
    except (BadSubmission, SchedulerError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "job": summary(job)}


def summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "attempt": job.attempt,
        "state": job.state.value,
        "reason": job.reason,
        "gpus": job.gpus,
    }
