"""One scheduler contract, four real schedulers: local, Slurm 22.05, Slurm 24.11 and Ray.

Every test in this folder runs once per backend. The `backend` it gets is the
skill's own scheduler over a real cluster (the local one is this machine), with
what differs between schedulers spelled out once in `Expected`: their own
state words and reasons. Everything else a test asserts holds for all of them,
so a backend cannot drift from the others unnoticed.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import Job, JobSpec, Scheduler
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.backends.ray import RayScheduler
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from tests.aiqu.conftest import kill_leftovers
from tests.slurm.cluster import SlurmCluster
from tests.slurm.conftest import free_the_cluster, wait_until_forgotten

AGENT = {"submitted_by": "agent", "sweep": "lr-sweep-3"}
# What every job's skill environment carries besides its cluster's settings: a setting
# that reaches jobs, and a private one that must not.
REPORTING = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999", "SLACK_BOT_TOKEN": "xoxb-secret"}
# The machine is shared and often loaded: generous, but bounded.
WAIT_S = 90.0

BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("slurm-22.05", id="slurm-22.05", marks=pytest.mark.slurm),
    pytest.param("slurm-24.11", id="slurm-24.11", marks=pytest.mark.slurm),
    pytest.param("ray", id="ray", marks=pytest.mark.ray),
]


@dataclass(frozen=True)
class Expected:
    """A scheduler's own words for the same outcomes."""

    succeeded: str  # raw state of a job that exited 0
    failed: str  # raw state of one that exited non-zero
    killed: str  # raw state of one killed by a signal
    cancelled: str  # raw state of one cancelled while it ran
    cancelled_reason: str | None
    exit_reason: Callable[[int], str]  # the reason given for an exit code
    waiting: str  # raw state of a job waiting for GPUs
    waiting_reason: str  # why a 1-GPU job waits while both GPUs are taken
    unknown_id: str  # how an unknown job id is named
    queue: str | None
    others: str | None  # `submitted_by` of a job submitted outside aiqu; None: no such jobs
    sets_cuda_visible_devices: bool  # Slurm's fake GPUs have no devices to name
    submission_order: Callable[[Job], float]  # what `list` orders by, newest first


EXPECTED = {
    "local": Expected(
        succeeded="exited",
        failed="exited",
        killed="killed",
        cancelled="cancelled",
        cancelled_reason="cancelled",
        exit_reason=lambda code: f"exit code {code}",
        waiting="queued",
        waiting_reason="needs 1 GPU(s), 0 of 2 free",
        unknown_id="unknown job id",
        queue="local",
        others=None,
        sets_cuda_visible_devices=True,
        submission_order=lambda job: int(job.id),
    ),
    "slurm": Expected(
        succeeded="COMPLETED",
        failed="FAILED",
        killed="FAILED",
        cancelled="CANCELLED",
        cancelled_reason=None,
        exit_reason=lambda code: "NonZeroExitCode",
        waiting="PENDING",
        waiting_reason="Resources",
        unknown_id="unknown Slurm job id",
        queue="debug",
        others="slurm:root",
        sets_cuda_visible_devices=False,
        submission_order=lambda job: int(job.id),
    ),
    "ray": Expected(
        succeeded="SUCCEEDED",
        failed="FAILED",
        killed="FAILED",
        cancelled="STOPPED",
        cancelled_reason="Job was intentionally stopped.",
        exit_reason=lambda code: f"Job entrypoint command failed with exit code {code}",
        waiting="PENDING",
        waiting_reason=(
            "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory,"
            " custom resources) to become available. It may be waiting for the runtime"
            " environment to be set up."
        ),
        unknown_id="unknown Ray job id",
        queue=None,
        others="ray:unknown",
        sets_cuda_visible_devices=True,
        submission_order=lambda job: job.submitted_at,
    ),
}


@dataclass
class Backend:
    """The skill's scheduler over one real cluster, and what the tests do to that cluster."""

    kind: str  # local | slurm | ray
    expect: Expected
    connect: Callable[[], Scheduler]  # the skill's scheduler; again = the skill restarted
    forget_job: Callable[[str], None]  # make the cluster itself forget an ended job
    submit_outside: Callable[[str, str], str] | None  # (name, sh script) -> id, not via aiqu
    settings: dict[str, str]  # what `python -m mcp_servers aiqu` needs to reach this cluster
    made: list[Scheduler] = field(default_factory=list)

    def start(self) -> Scheduler:
        scheduler = self.connect()
        self.made.append(scheduler)
        start = getattr(scheduler, "start", None)
        if callable(start):
            start()
        return scheduler

    def restart(self, scheduler: Scheduler) -> Scheduler:
        """The skill stops and starts again on the same state dir."""
        _close(scheduler)
        return self.start()

    def close(self) -> None:
        for scheduler in self.made:
            _close(scheduler)


@dataclass
class Cluster:
    """What a module's tests share for one backend: the running cluster, if any."""

    kind: str
    slurm: SlurmCluster | None = None
    ray: Any = None  # tests.ray.cluster.RayHead

    def backend(self, state_dir: Path) -> Backend:
        extra = {**REPORTING, "MLOPS_STATE_DIR": str(state_dir)}
        if self.kind == "local":
            env = SkillEnvironment.from_env({**os.environ, **extra})

            def local() -> Scheduler:
                return LocalScheduler(state_dir, 2, env=env, poll_interval_s=0.05, cancel_grace_s=1)

            settings = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_LOCAL_GPUS": "2"}
            return Backend("local", EXPECTED["local"], local, lambda job_id: None, None, settings)
        if self.slurm is not None:
            cluster = self.slurm
            env = SkillEnvironment.from_env({**os.environ, **cluster.env(), **extra})
            return Backend(
                "slurm",
                EXPECTED["slurm"],
                lambda: SlurmScheduler.from_env(env),
                lambda job_id: wait_until_forgotten(cluster, [job_id]),
                lambda name, script: _sbatch(cluster, name, script),
                {**cluster.env(), "MLOPS_STATE_DIR": str(state_dir), "MLOPS_SCHEDULER": "slurm"},
            )
        head = self.ray
        env = SkillEnvironment.from_env({**extra, **head.env()})
        return Backend(
            "ray",
            EXPECTED["ray"],
            lambda: RayScheduler.from_env(env),
            lambda job_id: head.request("DELETE", f"/api/jobs/{job_id}"),
            lambda name, script: head.submit(
                f"exec sh -c {shlex.quote(script)}",
                runtime_env={"env_vars": {"MLOPS_JOB": name}},
            ),
            {**head.env(), "MLOPS_STATE_DIR": str(state_dir)},
        )

    def free(self, state_dir: Path) -> None:
        """Leave the cluster as the next test expects it: no job of this one left running."""
        if self.kind == "local":
            kill_leftovers(state_dir)
        elif self.slurm is not None:
            free_the_cluster(self.slurm)
        else:
            self.ray.stop_all()


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """The clusters are the test process's (tests/conftest.py), started once and shared
    with tests/slurm and tests/ray, which run on the same xdist worker."""
    kind: str = request.param
    if kind == "local":
        return Cluster("local")
    if kind.startswith("slurm-"):
        clusters = request.getfixturevalue("slurm_clusters")
        return Cluster("slurm", slurm=clusters.get(kind.removeprefix("slurm-")))
    return Cluster("ray", ray=request.getfixturevalue("ray_head"))


@pytest.fixture
def backend(cluster: Cluster, state_dir: Path) -> Iterator[Backend]:
    made = cluster.backend(state_dir)
    try:
        yield made
    finally:
        made.close()
        cluster.free(state_dir)


@pytest.fixture
def scheduler(backend: Backend) -> Scheduler:
    return backend.start()


def sh(script: str, **kw: Any) -> JobSpec:
    """A job running a POSIX shell script: the one command every cluster here can run."""
    defaults: dict[str, Any] = {"name": "customer-b/pcb-inspect-v2", "labels": AGENT}
    return JobSpec(command=["sh", "-c", script], **{**defaults, **kw})


def job_when(
    scheduler: Scheduler, job_id: str, ok: Callable[[Job], bool], timeout_s: float = WAIT_S
) -> Job:
    deadline = time.monotonic() + timeout_s
    while not ok(job := scheduler.get(job_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not as expected within {timeout_s} s: {job}")
        time.sleep(0.1)
    return job


def finished(scheduler: Scheduler, job_id: str) -> Job:
    return job_when(scheduler, job_id, lambda j: not j.state.active)


def until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
    return value


def _sbatch(cluster: SlurmCluster, name: str, script: str) -> str:
    done = cluster.run(
        "sbatch", "--parsable", f"--job-name={name}", "--output=/dev/null", f"--wrap={script}"
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _close(scheduler: Scheduler) -> None:
    close = getattr(scheduler, "close", None)
    if callable(close):
        close()
