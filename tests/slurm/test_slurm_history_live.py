"""Finished-job history on real clusters, and what doctor says about it, per Slurm release.

One cluster per release writes its history with `jobcomp/script` and the
skill's own script (`mcp_servers/aiqu/backends/slurm_jobcomp.sh`); the
session's shared clusters write `jobcomp/filetxt`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu import health
from mcp_servers.aiqu.backends.base import JobSpec, JobState
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from tests.slurm.cluster import SlurmCluster
from tests.slurm.conftest import (
    cluster_for,
    free_the_cluster,
    wait_until,
    wait_until_forgotten,
)
from tests.slurm.images import VERSIONS

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"slurm-{v}")
def script_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlurmCluster]:
    cluster = cluster_for(request.param, tmp_path_factory, jobcomp="script")
    try:
        yield cluster
    finally:
        cluster.stop()


def doctor(cluster: SlurmCluster, state_dir: Path) -> tuple[bool, str]:
    """`mlops-agent doctor`'s aiqu line, with the environment serve would hand the skill."""
    extra = {"PATH": os.environ["PATH"], **cluster.env()}
    return health.check(
        SkillEnvironment(state_dir=state_dir, extra={**extra, "MLOPS_SCHEDULER": "slurm"})
    )


def test_a_forgotten_job_is_read_from_the_jobcomp_script_log(
    script_cluster: SlurmCluster, state_dir: Path
) -> None:
    scheduler = SlurmScheduler.from_env(
        SkillEnvironment.from_env(
            {**os.environ, **script_cluster.env(), "MLOPS_STATE_DIR": str(state_dir)}
        )
    )
    failing = scheduler.submit(JobSpec(name="team/fails", command=["sh", "-c", "exit 3"]))
    killed = scheduler.submit(JobSpec(name="team/killed", command=["sh", "-c", "kill -9 $$"]))
    # Cancelled only once its command runs: a cancel that races the batch launch
    # can leave the job COMPLETING for as long as the command lives.
    running = state_dir / "long.running"
    long = scheduler.submit(
        JobSpec(name="team/long", command=["sh", "-c", f"touch {running}; exec sleep 60"])
    )
    wait_until(running.exists, 20)
    script_cluster.run("scancel", long.id)  # behind the skill's back: it never sees the end
    jobs = (failing, killed, long)
    try:
        # Asked again only once slurmctld has forgotten all three (MinJobAge).
        wait_until_forgotten(script_cluster, (job.id for job in jobs))
        ended = {job.name: scheduler.get(job.id) for job in jobs}
    finally:
        free_the_cluster(script_cluster)

    assert {name: (j.state, j.raw_state, j.exit_code) for name, j in ended.items()} == {
        "team/fails": (JobState.FAILED, "FAILED", 3),
        "team/killed": (JobState.FAILED, "FAILED", -9),
        # Both jobcomp plugins log scancel's end as 0:0; squeue and sacct know better.
        "team/long": (JobState.CANCELLED, "CANCELLED", 0),
    }
    assert all(j.started_at and j.ended_at and j.started_at <= j.ended_at for j in ended.values())
    lines = script_cluster.jobcomp_log.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(f"JobId={job.id}" for job in jobs)


def test_doctor_names_the_script_log_it_reads(
    script_cluster: SlurmCluster, state_dir: Path
) -> None:
    # The script writes its log when a job ends: one has, whichever tests ran before.
    done = script_cluster.run("sbatch", "--output=/dev/null", "--wrap=true")
    assert done.returncode == 0, done.stderr
    wait_until(script_cluster.jobcomp_log.exists, 20)
    ok, detail = doctor(script_cluster, state_dir)

    assert ok, detail
    assert f"slurm-wlm {script_cluster.version}." in detail
    assert detail.endswith(
        f"finished-job history: jobcomp/script log {script_cluster.jobcomp_log} (readable)"
    )


def test_doctor_names_the_filetxt_log_it_reads(
    slurm_cluster: SlurmCluster, state_dir: Path
) -> None:
    ok, detail = doctor(slurm_cluster, state_dir)

    assert ok, detail
    assert detail.startswith("slurm: Slurmctld(primary) at slurmnode is UP")
    assert detail.endswith(
        f"finished-job history: jobcomp/filetxt log {slurm_cluster.jobcomp_log} (readable)"
    )
