"""A real single-node Slurm per release (22.05 and 24.11), and a SlurmScheduler over it per test.

Every test that uses `slurm_cluster` runs once against each release; pytest
groups them so that one container per release serves the whole session.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from tests.conftest import missing
from tests.slurm.cluster import SlurmCluster, start_cluster
from tests.slurm.images import VERSIONS, ImageUnavailable
from tests.slurm.podman import PodmanError, missing_tools

T = TypeVar("T")

# Short, so tests also see jobs Slurm has already forgotten (purged ~MinJobAge + a few s).
MIN_JOB_AGE_S = 2
# slurmctld purges ended jobs every max(10 s, MinJobAge), skips a round while
# backfill runs, and keeps a job that is still COMPLETING until its node reports
# back (a process that ignores SIGTERM adds KillWait, 30 s). Measured here: 7-10 s.
FORGET_TIMEOUT_S = 60


def cluster_for(
    version: str, tmp_path_factory: pytest.TempPathFactory, **options: object
) -> SlurmCluster:
    """Start Slurm `version`, or skip (fail under MLOPS_TEST_STRICT=1) naming what is missing."""
    reason = missing_tools()
    if reason:
        missing(reason)
    try:
        return start_cluster(
            version,
            gpus=2,
            min_job_age_s=MIN_JOB_AGE_S,
            shared=[tmp_path_factory.getbasetemp()],
            **options,  # type: ignore[arg-type]
        )
    except (ImageUnavailable, PodmanError) as exc:
        missing(f"no Slurm {version} container: {exc}")
        raise  # missing() never returns


class SlurmClusters:
    """One cluster per release for the whole test process (tests/conftest.py `slurm_clusters`),
    started when a test first asks for it: this folder's tests and the scheduler contract's
    (tests/scheduler) share it. A release that could not start is not tried again."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._started: dict[str, SlurmCluster] = {}
        self._refused: dict[str, BaseException] = {}

    def get(self, version: str) -> SlurmCluster:
        if version in self._refused:
            raise self._refused[version]
        if version not in self._started:
            try:
                self._started[version] = cluster_for(version, self._tmp_path_factory)
            except (pytest.skip.Exception, pytest.fail.Exception) as exc:
                self._refused[version] = exc
                raise
        return self._started[version]

    def stop(self) -> None:
        for cluster in self._started.values():
            cluster.stop()
        self._started.clear()


@pytest.fixture(scope="session", params=VERSIONS, ids=lambda v: f"slurm-{v}")
def slurm_cluster(request: pytest.FixtureRequest, slurm_clusters: SlurmClusters) -> SlurmCluster:
    return slurm_clusters.get(request.param)


@pytest.fixture
def skill_env(slurm_cluster: SlurmCluster, state_dir: Path) -> dict[str, str]:
    """The environment the skill would run with in production, pointed at the test cluster."""
    return {**os.environ, **slurm_cluster.env(), "MLOPS_STATE_DIR": str(state_dir)}


@pytest.fixture
def scheduler(slurm_cluster: SlurmCluster, skill_env: dict[str, str]) -> Iterator[SlurmScheduler]:
    yield SlurmScheduler.from_env(SkillEnvironment.from_env(skill_env))
    free_the_cluster(slurm_cluster)


def free_the_cluster(cluster: SlurmCluster) -> None:
    """The cluster is shared: leave both GPUs free for the next test."""
    cluster.run("scancel", "--user=root")
    wait_until(lambda: not cluster.run("squeue", "-h").stdout, 15)


def wait_until_forgotten(cluster: SlurmCluster, job_ids: Iterable[str]) -> None:
    """Wait until slurmctld has purged these jobs; on timeout, say how it still holds them."""
    wanted = set(job_ids)
    deadline = time.monotonic() + FORGET_TIMEOUT_S
    while True:
        listed = cluster.run("squeue", "-h", "-t", "all", "-o", "%i %T %r").stdout.splitlines()
        held = [line for line in listed if line.split(" ", 1)[0] in wanted]
        if not held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"slurmctld still holds {held} after {FORGET_TIMEOUT_S} s (job id, state, reason)"
            )
        time.sleep(0.5)


def wait_until(probe: Callable[[], T], timeout_s: float, interval_s: float = 0.1) -> T:
    """Poll until `probe()` is truthy; its last value on failure goes into the error."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s; last value: {value!r}")
        time.sleep(interval_s)
    return value
