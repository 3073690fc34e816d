"""What a cluster backend checks of a job spec before it asks the cluster anything.

A spec goes into a batch script (Slurm) or a JSON request (Ray) and runs on
another machine: a bad one is refused here, saying what would be valid, and
nothing reaches the cluster. (The local backend checks against its own GPUs
and queue in `local.py`.)
"""

from __future__ import annotations

import re

from .base import JobSpec, SchedulerError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_spec(spec: JobSpec) -> None:
    if not spec.name.strip() or "\n" in spec.name:
        raise SchedulerError(
            "job name must be one non-empty line, e.g. 'customer-b/pcb-inspect-v2'"
        )
    if not spec.command or not all(isinstance(a, str) for a in spec.command):
        raise SchedulerError("command must be a non-empty list of strings (an argv)")
    if spec.gpus < 0:
        raise SchedulerError(f"gpus must be 0 or more, got {spec.gpus}")
    if spec.time_limit_min is not None and spec.time_limit_min <= 0:
        raise SchedulerError("time_limit_min must be a positive number of minutes, or None")
    bad = [k for k in spec.env if not ENV_NAME.fullmatch(k)]
    if bad:
        raise SchedulerError(f"env names must look like MY_VAR (letters, digits, _): {bad}")
