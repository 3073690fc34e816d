"""The scheduler contract, the same tests on local, Slurm 22.05, Slurm 24.11 and Ray.

Each scheduler keeps its own words beside the shared states (`Expected` in
conftest.py); what a backend does beyond the contract is tested in its own
folder (tests/aiqu for local, tests/slurm, tests/ray).
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from mcp_servers.aiqu.backends.base import JobState, Scheduler, SchedulerError

from .conftest import AGENT, Backend, finished, job_when, sh, until

CUDA = 'echo "cvd=${CUDA_VISIBLE_DEVICES-unset}"'


def test_a_job_runs_with_its_identity_and_its_output_is_tailed(
    backend: Backend, scheduler: Scheduler
) -> None:
    # Reporting settings reach the job; the service's private ones (SLACK_*) do not.
    script = (
        'echo "job=$MLOPS_JOB attempt=$MLOPS_ATTEMPT id=$MLOPS_JOB_ID labels=$MLOPS_LABELS";'
        'echo "mlflow=$MLFLOW_TRACKING_URI slack=${SLACK_BOT_TOKEN:-unset} arg=$0 own=$OWN"'
    )
    spec = sh(script, env={"OWN": "x y"})
    spec = dataclasses.replace(spec, command=[*spec.command, "it's a 'quoted' $arg"])
    long = sh(
        'i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i + 1)); done; echo oops >&2',
        name="team/chatty",
    )

    submitted = scheduler.submit(spec)
    many = scheduler.submit(long)
    job = finished(scheduler, submitted.id)
    finished(scheduler, many.id)

    assert (job.name, job.attempt, job.labels, job.gpus) == (spec.name, 1, AGENT, 0)
    assert (job.state, job.raw_state, job.exit_code) == (
        JobState.SUCCEEDED,
        backend.expect.succeeded,
        0,
    )
    assert job.queue == backend.expect.queue
    assert job.started_at is not None and job.ended_at is not None
    assert job.submitted_at <= job.ended_at
    assert scheduler.logs(job.id).splitlines() == [
        f"job=customer-b/pcb-inspect-v2 attempt=1 id={job.id}"
        ' labels={"submitted_by": "agent", "sweep": "lr-sweep-3"}',
        "mlflow=http://127.0.0.1:5999 slack=unset arg=it's a 'quoted' $arg own=x y",
    ]
    assert scheduler.logs(job.id, lines=1).startswith("mlflow=")
    # The tail is the end of the output, stderr in the same stream.
    assert scheduler.logs(many.id, lines=3).splitlines() == ["line 498", "line 499", "oops"]


def test_attempts_count_up_per_logical_name(scheduler: Scheduler) -> None:
    a1 = scheduler.submit(sh("true", name="cust/a"))
    b1 = scheduler.submit(sh("true", name="cust/b"))
    a2 = scheduler.submit(sh("true", name="cust/a"))

    assert (a1.attempt, b1.attempt, a2.attempt) == (1, 1, 2)


def test_list_shows_own_jobs_newest_first_and_other_peoples_active_ones(
    backend: Backend, scheduler: Scheduler
) -> None:
    done = finished(scheduler, scheduler.submit(sh("true", name="quick")).id)
    ours = scheduler.submit(sh("sleep 30", name="long"))
    theirs = backend.submit_outside("alice-run", "sleep 30") if backend.submit_outside else None

    listed = scheduler.list()
    everything = {j.id: j for j in listed}
    active = {j.id for j in scheduler.list(include_finished=False)}

    assert everything[done.id].state is JobState.SUCCEEDED
    assert everything[ours.id].labels == AGENT
    assert ours.id in active and done.id not in active
    assert listed == sorted(listed, key=backend.expect.submission_order, reverse=True)
    if theirs is not None:
        foreign = everything[theirs]
        assert (foreign.name, foreign.attempt, foreign.spec) == ("alice-run", 1, None)
        # Never mistaken for the agent's own, whoever submitted it.
        assert foreign.labels == {"submitted_by": backend.expect.others}
        assert theirs in active


def test_other_peoples_finished_jobs_are_not_listed_but_found_by_id(
    backend: Backend, scheduler: Scheduler
) -> None:
    if backend.submit_outside is None:
        pytest.skip("the local backend runs only jobs submitted through aiqu")
    theirs = backend.submit_outside("alice-quick", "exit 2")
    job_when(scheduler, theirs, lambda j: not j.state.active)

    listed = {j.id for j in scheduler.list()}
    found = scheduler.get(theirs)

    assert theirs not in listed
    assert (found.name, found.state, found.exit_code) == ("alice-quick", JobState.FAILED, 2)


def test_cancel_stops_a_running_job_and_refuses_an_ended_one(
    backend: Backend, scheduler: Scheduler
) -> None:
    job = scheduler.submit(sh("echo started; sleep 60"))
    job_when(scheduler, job.id, lambda j: j.state is JobState.RUNNING)
    done = finished(scheduler, scheduler.submit(sh("true", name="quick")).id)

    cancelled = scheduler.cancel(job.id)

    assert (cancelled.state, cancelled.raw_state) == (JobState.CANCELLED, backend.expect.cancelled)
    assert cancelled.reason == backend.expect.cancelled_reason
    assert cancelled.ended_at is not None
    with pytest.raises(SchedulerError, match="already cancelled; only pending or running"):
        scheduler.cancel(job.id)
    with pytest.raises(SchedulerError, match="already succeeded; only pending or running"):
        scheduler.cancel(done.id)


def test_requeue_submits_the_same_spec_as_the_next_attempt(scheduler: Scheduler) -> None:
    spec = sh('echo "attempt $MLOPS_ATTEMPT"; exit 1', gpus=1)
    first = finished(scheduler, scheduler.submit(spec).id)

    second = finished(scheduler, scheduler.requeue(first.id).id)
    third = scheduler.requeue(second.id)

    assert second.id != first.id
    assert (second.name, second.attempt, second.labels, second.gpus) == (spec.name, 2, AGENT, 1)
    assert second.spec == first.spec
    assert first.spec is not None
    # The local backend keeps where the job ran (its workdir defaults to the skill's).
    assert dataclasses.replace(first.spec, workdir=spec.workdir) == spec
    assert (second.state, second.exit_code) == (JobState.FAILED, 1)
    assert scheduler.logs(second.id) == "attempt 2"
    assert scheduler.get(first.id).attempt == 1
    assert (third.name, third.attempt) == (spec.name, 3)
    assert len({first.id, second.id, third.id}) == 3


def test_a_failing_job_says_its_exit_code_or_signal(backend: Backend, scheduler: Scheduler) -> None:
    failing = scheduler.submit(sh("echo boom >&2; exit 3"))
    killing = scheduler.submit(sh("kill -9 $$", name="killed"))

    failed = finished(scheduler, failing.id)
    killed = finished(scheduler, killing.id)

    assert (failed.state, failed.raw_state, failed.exit_code) == (
        JobState.FAILED,
        backend.expect.failed,
        3,
    )
    assert failed.reason == backend.expect.exit_reason(3)
    assert scheduler.logs(failed.id) == "boom"  # stderr goes to the same output
    assert (killed.state, killed.raw_state, killed.exit_code) == (
        JobState.FAILED,
        backend.expect.killed,
        -9,
    )


def test_a_gpu_job_waits_while_both_gpus_are_taken_then_runs(
    backend: Backend, scheduler: Scheduler
) -> None:
    assert scheduler.gpu_total() == 2
    holders = [
        scheduler.submit(sh(f"{CUDA}; sleep 60", name=f"holder-{i}", gpus=1)) for i in range(2)
    ]
    for holder in holders:
        job_when(scheduler, holder.id, lambda j: j.state is JobState.RUNNING)
    waiting = scheduler.submit(sh(CUDA, name="waiter", gpus=1))

    pending = job_when(scheduler, waiting.id, lambda j: j.reason == backend.expect.waiting_reason)
    assert (pending.state, pending.raw_state, pending.started_at) == (
        JobState.PENDING,
        backend.expect.waiting,
        None,
    )
    until(lambda: all(scheduler.logs(h.id) for h in holders), "the holders' first line")
    assert scheduler.get(waiting.id).state is JobState.PENDING  # still: both GPUs are taken
    scheduler.cancel(holders[0].id)

    ran = finished(scheduler, waiting.id)
    assert ran.state is JobState.SUCCEEDED
    assert scheduler.get(holders[1].id).state is JobState.RUNNING
    # Their first lines: Slurm appends its own word on the one it cancelled.
    seen = {scheduler.logs(h.id).splitlines()[0] for h in holders}
    if backend.expect.sets_cuda_visible_devices:
        assert seen == {"cvd=0", "cvd=1"}
        assert scheduler.logs(waiting.id) in ("cvd=0", "cvd=1")
    else:
        assert seen == {"cvd=unset"}


def test_a_job_outlives_restarts_of_the_skill_and_its_end_is_kept_once_the_cluster_forgot_it(
    backend: Backend, scheduler: Scheduler, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    spec = sh(f"while [ ! -e {shlex.quote(str(release))} ]; do sleep 0.2; done; exit 4", gpus=1)
    job = scheduler.submit(spec)
    running = job_when(scheduler, job.id, lambda j: j.state is JobState.RUNNING)

    restarted = backend.restart(scheduler)  # while the job runs
    found = restarted.get(job.id)
    release.touch()
    ended = finished(restarted, job.id)
    backend.forget_job(job.id)  # the cluster forgets it (Slurm: MinJobAge; Ray: deleted)
    again = backend.restart(restarted)
    remembered = again.get(job.id)
    requeued = again.requeue(job.id)

    assert (found.state, found.name, found.attempt, found.labels) == (
        JobState.RUNNING,
        spec.name,
        1,
        AGENT,
    )
    assert found.started_at == running.started_at
    assert (ended.state, ended.exit_code) == (JobState.FAILED, 4)
    assert (remembered.state, remembered.exit_code, remembered.reason) == (
        JobState.FAILED,
        4,
        backend.expect.exit_reason(4),
    )
    assert (remembered.name, remembered.attempt, remembered.labels) == (spec.name, 1, AGENT)
    assert job.id in {j.id for j in again.list()}
    assert job.id not in {j.id for j in again.list(include_finished=False)}
    assert (requeued.name, requeued.attempt, requeued.spec) == (
        spec.name,
        2,
        again.get(job.id).spec,
    )


def test_an_unknown_job_id_is_refused_naming_recent_ones(
    backend: Backend, scheduler: Scheduler
) -> None:
    job = scheduler.submit(sh("true"))

    for call in (scheduler.get, scheduler.cancel, scheduler.requeue, scheduler.logs):
        with pytest.raises(
            SchedulerError, match=f"^{backend.expect.unknown_id} '999999'; recent ids: {job.id}$"
        ):
            call("999999")
