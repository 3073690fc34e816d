"""The local backend queues jobs for the configured GPUs and runs them as real processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec, JobState, SchedulerError
from mcp_servers.aiqu.backends.local import LocalScheduler

from .conftest import spec, wait_for, wait_state

PRINT_GPUS = "import os, time; print('cvd=' + os.environ['CUDA_VISIBLE_DEVICES'], flush=True); {}"


def test_two_gpu_job_gets_both_indices(local: LocalScheduler):
    job = local.submit(spec(code=PRINT_GPUS.format("pass"), gpus=2))
    wait_state(local, job.id, "succeeded")
    assert local.logs(job.id) == "cvd=0,1"


def test_gpu_less_job_sees_no_gpu(local: LocalScheduler):
    job = local.submit(spec(code=PRINT_GPUS.format("pass"), gpus=0))
    wait_state(local, job.id, "succeeded")
    assert local.logs(job.id) == "cvd="


def test_queue_is_first_in_first_out(local: LocalScheduler, tmp_path: Path):
    release = tmp_path / "release"
    hold = (
        f"import pathlib, time\nwhile not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)"
    )
    running = local.submit(spec(code=hold, gpus=1))
    big = local.submit(spec(code="pass", gpus=2))
    small = local.submit(spec(code="pass", gpus=1))
    # One GPU is free, but the 2-GPU job came first: the small one must not overtake it.
    assert local.get(big.id).state is JobState.PENDING
    assert local.get(small.id).state is JobState.PENDING
    assert local.get(small.id).reason == f"queued behind job {big.id}"
    release.touch()
    wait_state(local, small.id, "succeeded")
    assert local.get(running.id).state is JobState.SUCCEEDED
    assert local.get(big.id).started_at <= local.get(small.id).started_at  # type: ignore[operator]


def test_job_environment_carries_identity_and_pass_through(
    make_local: Callable[..., LocalScheduler],
):
    skill_env = {
        "PATH": "/usr/bin:/bin",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
        "MLOPS_URL": "http://127.0.0.1:8080",
        "MLOPS_WEBHOOK_SECRET": "whsec_dGVzdA==",
        "MLOPS_MODEL_API_KEY": "not-for-jobs",
        "SLACK_BOT_TOKEN": "xoxb-not-for-jobs",
    }
    local = make_local(1, env=SkillEnvironment.from_env(skill_env))
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    job = local.submit(spec("cust/env", code, labels={"submitted_by": "alice", "sweep": "s1"}))
    wait_state(local, job.id, "succeeded")
    env = json.loads(local.logs(job.id))
    assert env["MLOPS_JOB"] == "cust/env"
    assert env["MLOPS_ATTEMPT"] == "1"
    assert env["MLOPS_JOB_ID"] == job.id
    assert json.loads(env["MLOPS_LABELS"]) == {"submitted_by": "alice", "sweep": "s1"}
    for key in ("MLFLOW_TRACKING_URI", "MLOPS_URL", "MLOPS_WEBHOOK_SECRET"):
        assert env[key] == skill_env[key]
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"  # its thread races the job's reads
    assert "MLOPS_MODEL_API_KEY" not in env
    assert "SLACK_BOT_TOKEN" not in env


def test_a_command_that_cannot_start_fails_as_a_shell_says_it(local: LocalScheduler):
    missing = local.submit(JobSpec(name="team/missing", command=["/nonexistent/train"]))
    not_started = wait_state(local, missing.id, "failed")
    assert not_started.exit_code == 127
    assert "cannot start '/nonexistent/train'" in local.logs(missing.id)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (spec(gpus=3), "asks for 3 GPU(s); this machine has 2"),
        (spec(queue="gpu-large"), "the local backend has one: 'local'"),
        (JobSpec(name="x", command=[]), "non-empty list of strings"),
        (spec(time_limit_min=0), "positive number of minutes"),
        (spec(workdir="/nonexistent/dir"), "is not a directory"),
    ],
)
def test_bad_spec_is_refused_and_nothing_is_queued(
    local: LocalScheduler, bad: JobSpec, message: str
):
    with pytest.raises(SchedulerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        local.submit(bad)
    assert local.list() == []


def test_workdir_is_where_the_job_runs(local: LocalScheduler, tmp_path: Path):
    job = local.submit(spec(code="import os; print(os.getcwd())", workdir=str(tmp_path)))
    wait_state(local, job.id, "succeeded")
    assert local.logs(job.id) == str(tmp_path)


def test_dispatcher_thread_starts_jobs_without_any_call(
    make_local: Callable[..., LocalScheduler], tmp_path: Path
):
    local = make_local(1)
    marker = tmp_path / "second-ran"
    first = local.submit(spec(code="import time; time.sleep(0.3)", gpus=1))
    local.submit(spec(code=f"open({str(marker)!r}, 'w').close()", gpus=1))
    assert local.get(first.id).state is JobState.RUNNING
    # No further calls: only the background dispatcher can start the second job.
    wait_for(marker.exists, what="the pending job to be started by the dispatcher")
