"""A real single-node Slurm per test module, and a SlurmScheduler over it per test."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from tests.conftest import missing
from tests.slurm.cluster import SlurmCluster, missing_requirements, start_cluster

T = TypeVar("T")

# Short, so tests also see jobs Slurm has already forgotten (purged ~MinJobAge + a few s).
MIN_JOB_AGE_S = 2


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[SlurmCluster]:
    reason = missing_requirements()
    if reason:
        missing(reason)
    cluster = start_cluster(gpus=2, min_job_age_s=MIN_JOB_AGE_S)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def skill_env(slurm_cluster: SlurmCluster, state_dir: Path) -> dict[str, str]:
    """The environment the skill would run with in production, pointed at the test cluster."""
    return {**os.environ, **slurm_cluster.env(), "MLOPS_STATE_DIR": str(state_dir)}


@pytest.fixture
def scheduler(slurm_cluster: SlurmCluster, skill_env: dict[str, str]) -> Iterator[SlurmScheduler]:
    yield SlurmScheduler.from_env(SkillEnvironment.from_env(skill_env))
    # The cluster is shared by the module: leave both GPUs free for the next test.
    slurm_cluster.run("scancel", "--user=root")
    wait_until(lambda: not slurm_cluster.run("squeue", "-h", "-t", "active").stdout, 15)


def wait_until(probe: Callable[[], T], timeout_s: float, interval_s: float = 0.1) -> T:
    """Poll until `probe()` is truthy; its last value on failure goes into the error."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s; last value: {value!r}")
        time.sleep(interval_s)
    return value
