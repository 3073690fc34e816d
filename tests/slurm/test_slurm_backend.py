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


def test_job_runs_with_its_identity_and_its_output_is_tailed(
    scheduler: SlurmScheduler, skill_env: dict[str, str]
) -> None:
    # Pass-through settings reach the job; the service's private ones do not.
    skill_env.update(MLFLOW_TRACKING_URI="http://127.0.0.1:5999", SLACK_BOT_TOKEN="xoxb-secret")
    scheduler = SlurmScheduler.from_env(SkillEnvironment.from_env(skill_env))
    script = (
        'echo "job=$MLOPS_JOB attempt=$MLOPS_ATTEMPT id=$MLOPS_JOB_ID labels=$MLOPS_LABELS";'
        'echo "mlflow=$MLFLOW_TRACKING_URI slack=${SLACK_BOT_TOKEN:-unset} arg=$0 own=$OWN"'
    )
    spec = JobSpec(
        name="customer-b/pcb-inspect-v2",
        command=["sh", "-c", script, "it's a 'quoted' $arg"],
        env={"OWN": "x y"},
        labels=AGENT,
    )

    submitted = scheduler.submit(spec)
    job = finished(scheduler, submitted.id)

    assert (job.name, job.attempt, job.labels, job.gpus) == (spec.name, 1, AGENT, 0)
    assert (job.state, job.raw_state, job.exit_code) == (JobState.SUCCEEDED, "COMPLETED", 0)
    assert job.queue == "debug"
    assert job.started_at is not None and job.ended_at is not None
    assert job.submitted_at <= job.ended_at
    assert scheduler.logs(job.id).splitlines() == [
        f"job=customer-b/pcb-inspect-v2 attempt=1 id={job.id}"
        ' labels={"submitted_by": "agent", "sweep": "lr-sweep-3"}',
        "mlflow=http://127.0.0.1:5999 slack=unset arg=it's a 'quoted' $arg own=x y",
    ]
    assert scheduler.logs(job.id, lines=1).startswith("mlflow=")


def test_failed_job_reports_exit_code_and_slurm_reason(scheduler: SlurmScheduler) -> None:
    job = finished(scheduler, scheduler.submit(sh("echo boom >&2; exit 3")).id)

    assert (job.state, job.raw_state, job.exit_code) == (JobState.FAILED, "FAILED", 3)
    assert job.reason == "NonZeroExitCode"
    assert scheduler.logs(job.id) == "boom"  # stderr goes to the same file


def test_list_shows_own_and_other_peoples_jobs(
    scheduler: SlurmScheduler, slurm_cluster: SlurmCluster
) -> None:
    done = finished(scheduler, scheduler.submit(sh("true", name="quick")).id)
    ours = scheduler.submit(sh("sleep 30", name="long"))
    theirs = slurm_cluster.run(
        "sbatch", "--parsable", "--job-name=alice-run", "--output=/dev/null", "--wrap=sleep 30"
    )
    theirs_id = theirs.stdout.strip()

    everything = {j.id: j for j in scheduler.list()}
    active = {j.id for j in scheduler.list(include_finished=False)}

    assert everything[done.id].state is JobState.SUCCEEDED
    assert everything[ours.id].labels == AGENT
    foreign = everything[theirs_id]
    assert (foreign.name, foreign.attempt, foreign.spec) == ("alice-run", 1, None)
    # Never mistaken for the agent's own, whatever the Slurm user is called.
    assert foreign.labels == {"submitted_by": "slurm:root"}
    assert {ours.id, theirs_id} <= active and done.id not in active
    ids = [int(j) for j in everything]
    assert ids == sorted(ids, reverse=True)


def test_cancel_stops_a_running_job_and_refuses_a_finished_one(
    scheduler: SlurmScheduler,
) -> None:
    job = scheduler.submit(sh("echo started; sleep 60"))
    in_state(scheduler, job.id, JobState.RUNNING)

    cancelled = scheduler.cancel(job.id)

    assert (cancelled.state, cancelled.raw_state) == (JobState.CANCELLED, "CANCELLED")
    assert cancelled.ended_at is not None
    with pytest.raises(SchedulerError, match="already cancelled; only pending or running"):
        scheduler.cancel(job.id)


def test_requeue_submits_the_same_spec_as_the_next_attempt(scheduler: SlurmScheduler) -> None:
    spec = sh('echo "attempt $MLOPS_ATTEMPT"; exit 1', gpus=1)
    first = finished(scheduler, scheduler.submit(spec).id)

    second = finished(scheduler, scheduler.requeue(first.id).id)

    assert second.id != first.id
    assert (second.name, second.attempt, second.labels, second.gpus) == (spec.name, 2, AGENT, 1)
    assert second.spec == first.spec == spec
    assert scheduler.logs(second.id) == "attempt 2"
    assert scheduler.get(first.id).attempt == 1


def test_gpu_job_waits_while_both_gpus_are_taken_then_runs(scheduler: SlurmScheduler) -> None:
    assert scheduler.gpu_total() == 2
    holders = [scheduler.submit(sh("sleep 60", name=f"holder-{i}", gpus=1)) for i in range(2)]
    for holder in holders:
        in_state(scheduler, holder.id, JobState.RUNNING)
    waiting = scheduler.submit(sh("echo got a gpu", name="waiter", gpus=1))

    pending = job_when(scheduler, waiting.id, lambda j: j.reason == "Resources", timeout_s=10)
    assert (pending.state, pending.raw_state, pending.started_at) == (
        JobState.PENDING,
        "PENDING",
        None,
    )
    scheduler.cancel(holders[0].id)

    ran = finished(scheduler, waiting.id)
    assert ran.state is JobState.SUCCEEDED
    assert scheduler.get(holders[1].id).state is JobState.RUNNING


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


def test_unknown_job_id_names_recent_ones(scheduler: SlurmScheduler) -> None:
    job = scheduler.submit(sh("true"))

    for call in (scheduler.get, scheduler.cancel, scheduler.requeue, scheduler.logs):
        with pytest.raises(
            SchedulerError, match=f"^unknown Slurm job id '999999'; recent ids: {job.id}$"
        ):
            call("999999")


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


def test_a_cancelled_job_and_a_killed_one_say_how_they_ended(scheduler: SlurmScheduler) -> None:
    running = scheduler.submit(sh("sleep 60", name="to-cancel"))
    in_state(scheduler, running.id, JobState.RUNNING)
    killed = scheduler.submit(sh("kill -9 $$", name="killed"))

    cancelled = scheduler.cancel(running.id)
    died = finished(scheduler, killed.id)

    assert (cancelled.state, cancelled.raw_state) == (JobState.CANCELLED, "CANCELLED")
    assert (died.state, died.raw_state, died.exit_code) == (JobState.FAILED, "FAILED", -9)


def test_finished_jobs_of_others_are_not_listed_but_found_by_id(
    scheduler: SlurmScheduler, slurm_cluster: SlurmCluster
) -> None:
    theirs = foreign(slurm_cluster, "alice-quick", script="exit 2")
    # Still held by slurmctld (for MinJobAge), but no longer active.
    held = ("squeue", "-h", "-t", "all", "-j", theirs, "-o", "%T")
    wait_until(lambda: slurm_cluster.run(*held).stdout.strip() == "FAILED", 15, 0.05)

    listed = {j.id for j in scheduler.list()}
    found = scheduler.get(theirs)

    assert theirs not in listed
    assert (found.name, found.state, found.exit_code) == ("alice-quick", JobState.FAILED, 2)


def test_the_recorded_fixtures_come_from_this_slurm(slurm_cluster: SlurmCluster) -> None:
    """The unit tests read recordings of these images' Slurm: re-capture when it changes."""
    live = read_document(slurm_cluster.run("squeue", "--json").stdout, "squeue --json")
    recording = recorded(slurm_cluster.version)

    assert (live.parser, live.release.rsplit(".", 1)[0]) == (
        recording.document("squeue.json").parser,
        slurm_cluster.version,
    )
