"""The Slurm backend against a real slurmctld + slurmd with two fake GPUs, per Slurm release."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import Job, JobSpec, JobState, SchedulerError
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from mcp_servers.aiqu.backends.slurm_json import read_document
from tests.slurm.cluster import SlurmCluster
from tests.slurm.conftest import wait_until, wait_until_forgotten
from tests.slurm.recordings import recorded

pytestmark = pytest.mark.slurm

AGENT = {"submitted_by": "agent", "sweep": "lr-sweep-3"}


def sh(script: str, **kw: object) -> JobSpec:
    defaults: dict[str, object] = {"name": "customer-b/pcb-inspect-v2", "labels": AGENT}
    return JobSpec(command=["sh", "-c", script], **{**defaults, **kw})  # type: ignore[arg-type]


def job_when(
    scheduler: SlurmScheduler, job_id: str, ok: Callable[[Job], bool], timeout_s: float = 20
) -> Job:
    def probe() -> Job | None:
        job = scheduler.get(job_id)
        return job if ok(job) else None

    return wait_until(probe, timeout_s)


def finished(scheduler: SlurmScheduler, job_id: str) -> Job:
    return job_when(scheduler, job_id, lambda j: not j.state.active)


def in_state(scheduler: SlurmScheduler, job_id: str, state: JobState) -> Job:
    return job_when(scheduler, job_id, lambda j: j.state is state)


def foreign(cluster: SlurmCluster, name: str, *options: str, script: str = "sleep 30") -> str:
    """A job someone submitted with sbatch, outside the skill."""
    done = cluster.run(
        "sbatch", "--parsable", f"--job-name={name}", "--output=/dev/null", *options,
        f"--wrap={script}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_job_slurm_already_forgot_is_read_from_the_jobcomp_log(
    scheduler: SlurmScheduler, slurm_cluster: SlurmCluster
) -> None:
    job = scheduler.submit(sh("exit 4"))
    killed = scheduler.submit(sh("kill -9 $$", name="killed"))
    unlogged = scheduler.submit(sh("true", name="unlogged"))
    # Nobody asks the backend until slurmctld has purged them (MinJobAge).
    wait_until_forgotten(slurm_cluster, (j.id for j in (job, killed, unlogged)))

    gone = scheduler.get(job.id)
    signalled = scheduler.get(killed.id)
    hidden = slurm_cluster.jobcomp_log.rename(slurm_cluster.jobcomp_log.with_suffix(".away"))
    try:
        lost = scheduler.get(unlogged.id)
    finally:
        hidden.rename(slurm_cluster.jobcomp_log)
    found = scheduler.get(unlogged.id)

    assert (gone.state, gone.raw_state, gone.exit_code) == (JobState.FAILED, "FAILED", 4)
    assert gone.started_at is not None and gone.ended_at is not None
    assert (gone.name, gone.attempt, gone.labels) == (job.name, 1, AGENT)
    assert (signalled.state, signalled.exit_code) == (JobState.FAILED, -9)
    # Without the log nothing says how it ended; the reason says so...
    assert (lost.state, lost.raw_state, lost.exit_code) == (JobState.FAILED, "UNKNOWN", None)
    assert lost.reason is not None and "no jobcomp text log is readable" in lost.reason
    # ...and that answer was not kept: once the log is back, it is read.
    assert (found.state, found.raw_state, found.exit_code) == (JobState.SUCCEEDED, "COMPLETED", 0)


def test_a_final_state_once_seen_is_answered_without_asking_slurm(
    scheduler: SlurmScheduler, skill_env: dict[str, str]
) -> None:
    job = finished(scheduler, scheduler.submit(sh("exit 5")).id)
    # Same index, but every Slurm command now fails.
    offline = SlurmScheduler.from_env(
        SkillEnvironment.from_env({**skill_env, "MLOPS_SLURM_COMMAND_PREFIX": "false"})
    )

    again = offline.get(job.id)

    assert (again.state, again.exit_code, again.attempt) == (JobState.FAILED, 5, 1)
    with pytest.raises(SchedulerError, match=r"squeue failed \(exit 1\)"):
        offline.list()  # proof that this scheduler really cannot reach Slurm


def test_unknown_partition_is_refused_naming_the_valid_ones(scheduler: SlurmScheduler) -> None:
    with pytest.raises(SchedulerError, match="partitions on this cluster: debug"):
        scheduler.submit(sh("true", queue="no-such-partition"))

    assert [j for j in scheduler.list() if j.spec is not None] == []


def test_health_reports_the_controller(
    scheduler: SlurmScheduler, skill_env: dict[str, str], tmp_path: Path
) -> None:
    health = scheduler.health()
    assert health.ok and "is UP" in health.detail

    # Slurm's clients retry a missing config for 60 s: the timeout bounds the check. Built
    # as the skill builds it, so its clients are the cluster's (this host has none).
    env = {**skill_env, "SLURM_CONF": str(tmp_path / "missing.conf")}
    broken = SlurmScheduler.from_env(SkillEnvironment.from_env(env), command_timeout_s=1)
    down = broken.health()
    assert (down.ok, down.detail) == (False, "scontrol did not answer within 1 s")


def test_a_job_submitted_outside_aiqu_shows_its_gpus_and_output_but_cannot_be_requeued(
    scheduler: SlurmScheduler, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    submitted = slurm_cluster.run(
        "sbatch", "--parsable", "--job-name=bob-eval", "--gres=gpu:1", f"--chdir={tmp_path}",
        f"--output={tmp_path}/%x-%j.log", "--wrap=echo from bob; sleep 1",
    )  # fmt: skip
    job_id = submitted.stdout.strip()

    running = in_state(scheduler, job_id, JobState.RUNNING)
    done = finished(scheduler, job_id)

    assert (running.name, running.gpus, running.spec) == ("bob-eval", 1, None)
    assert done.state is JobState.SUCCEEDED
    assert scheduler.logs(job_id) == "from bob"
    with pytest.raises(
        SchedulerError, match="not submitted through aiqu, so its command is unknown"
    ):
        scheduler.requeue(job_id)


def test_gpus_are_read_from_every_way_of_asking_for_them(
    scheduler: SlurmScheduler, slurm_cluster: SlurmCluster
) -> None:
    typed = foreign(slurm_cluster, "typed", "--gres=gpu:fake:1")
    per_job = foreign(slurm_cluster, "per-job", "--gpus=1")
    for job_id in (typed, per_job):
        in_state(scheduler, job_id, JobState.RUNNING)
    per_node = foreign(slurm_cluster, "per-node", "--gpus-per-node=2")

    listed = {j.id: j for j in scheduler.list(include_finished=False)}

    assert {job_id: listed[job_id].gpus for job_id in (typed, per_job, per_node)} == {
        typed: 1,
        per_job: 1,
        per_node: 2,
    }
    assert listed[per_node].state is JobState.PENDING


def test_the_recorded_fixtures_come_from_this_slurm(slurm_cluster: SlurmCluster) -> None:
    """The unit tests read recordings of these images' Slurm: re-capture when it changes."""
    live = read_document(slurm_cluster.run("squeue", "--json").stdout, "squeue --json")
    recording = recorded(slurm_cluster.version)

    assert (live.parser, live.release.rsplit(".", 1)[0]) == (
        recording.document("squeue.json").parser,
        slurm_cluster.version,
    )
