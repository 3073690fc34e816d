"""The Ray backend's plain parts, without a cluster: Ray's words read into the shared ones, the
job's own output out of Ray's log, the shipped package, and settings that are refused."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec, JobState, SchedulerError
from mcp_servers.aiqu.backends.ray import RayScheduler
from mcp_servers.aiqu.backends.ray_package import pack
from mcp_servers.aiqu.backends.ray_records import RayRecord, job_output, submission_jobs

# As Ray 2.60 answers GET /api/jobs/ (trimmed to the fields read).
FAILED = {
    "type": "SUBMISSION",
    "submission_id": "aiqu-0a1b2c3d4e5f",
    "status": "FAILED",
    "message": "Job entrypoint command failed with exit code 3, last available logs"
    " (truncated to 20,000 chars):\n2026-12-07 18:40:42,652\tINFO job_manager.py:581 --"
    " Runtime env is setting up.\nboom\n",
    "error_type": "JOB_ENTRYPOINT_COMMAND_ERROR",
    "start_time": 1796668842650,
    "end_time": 1796668843808,
    "metadata": {"user": "bob"},
    "runtime_env": {"env_vars": {"MLOPS_JOB": "bob/eval"}},
    "driver_exit_code": 3,
}
DRIVER = {"type": "DRIVER", "submission_id": None, "job_id": "02000000", "status": "RUNNING"}
TRACEBACK = (
    'Traceback (most recent call last):\n  File "job_supervisor.py", line 402, in run\n'
    "    job_process = psutil.Process(child_pid)\n"
    "psutil.NoSuchProcess: process PID not found (pid=17234)\n"
)


def test_a_record_reads_ray_s_words_in_seconds_and_keeps_only_the_gist() -> None:
    record = submission_jobs([FAILED, DRIVER])["aiqu-0a1b2c3d4e5f"]

    assert (record.state, record.status, record.exit_code) == (JobState.FAILED, "FAILED", 3)
    assert record.reason == "Job entrypoint command failed with exit code 3"
    assert (record.submitted_at, record.ended_at) == (1796668842.65, 1796668843.808)
    assert (record.name, record.user) == ("bob/eval", "bob")
    assert RayRecord.stored(record.to_store()) == record


def test_drivers_started_outside_the_jobs_api_are_left_out() -> None:
    assert list(submission_jobs([DRIVER, FAILED])) == ["aiqu-0a1b2c3d4e5f"]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("PENDING", JobState.PENDING),
        ("RUNNING", JobState.RUNNING),
        ("SUCCEEDED", JobState.SUCCEEDED),
        ("FAILED", JobState.FAILED),
        ("STOPPED", JobState.CANCELLED),
        ("UNKNOWN", JobState.FAILED),
    ],
)
def test_each_ray_status_maps_to_a_shared_state(status: str, state: JobState) -> None:
    assert RayRecord("x", status).state is state


def test_a_traceback_s_gist_is_its_last_line() -> None:
    assert RayRecord("x", "FAILED", message=TRACEBACK).reason == (
        "psutil.NoSuchProcess: process PID not found (pid=17234)"
    )


def test_the_job_s_output_is_its_log_without_ray_s_own_lines() -> None:
    entrypoint = "exec python -c 'import os\nprint(os.getcwd())'"
    log = (
        "2026-12-07 18:40:23,277\tINFO job_manager.py:581 -- Runtime env is setting up.\n"
        "/tmp/x\n"
        f"Running entrypoint for job aiqu-1: {entrypoint}\n"
        "Running entrypoint for job aiqu-1: a line the job printed itself\n"
        "2026-12-07 18:40:24,000\tINFO worker.py:1 -- the job's own Ray driver said this\n"
    )

    assert job_output(log, "aiqu-1", entrypoint).splitlines() == [
        "/tmp/x",
        "Running entrypoint for job aiqu-1: a line the job printed itself",
        "2026-12-07 18:40:24,000\tINFO worker.py:1 -- the job's own Ray driver said this",
    ]


def test_the_package_is_the_same_bytes_for_the_same_files_without_git(tmp_path: Path) -> None:
    code = tmp_path / "repo"
    (code / "src").mkdir(parents=True)
    (code / "src" / "train.py").write_text("print('hi')\n")
    (code / "run.sh").write_text("#!/bin/sh\n")
    (code / "run.sh").chmod(0o755)
    for left_out in (".git/HEAD", "src/__pycache__/train.cpython-311.pyc"):
        (code / left_out).parent.mkdir(parents=True, exist_ok=True)
        (code / left_out).write_text("x")

    first = pack(code, tmp_path / "one.zip")
    (code / "run.sh").touch()  # a new mtime, the same content
    second = pack(code, tmp_path / "two.zip")
    (code / "src" / "train.py").write_text("print('changed')\n")
    third = pack(code, tmp_path / "three.zip")

    assert first == second != third
    with zipfile.ZipFile(tmp_path / "one.zip") as zipped:
        assert zipped.namelist() == ["run.sh", "src/train.py"]
        assert (zipped.getinfo("run.sh").external_attr >> 16) & 0o777 == 0o755


def test_a_workdir_too_big_for_ray_is_refused_naming_the_limit(tmp_path: Path) -> None:
    code = tmp_path / "repo"
    code.mkdir()
    (code / "weights.bin").write_bytes(os.urandom(2 * 2**20))  # random: does not compress

    with pytest.raises(SchedulerError, match="zips to more than 1 MiB, the most Ray takes"):
        pack(code, tmp_path / "big.zip", max_bytes=2**20)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        (JobSpec("x", ["true"], queue="gpu"), "Ray has no queues; leave queue unset"),
        (JobSpec("x", []), "non-empty list of strings"),
        (JobSpec("x", ["true"], gpus=-1), "gpus must be 0 or more"),
        (JobSpec("x", ["true"], time_limit_min=0), "positive number of minutes"),
        (JobSpec("x", ["true"], workdir="/nonexistent/dir"), "is not a directory"),
        (JobSpec("x", ["true"], env={"BAD-NAME": "1"}), "env names must look like MY_VAR"),
    ],
)
def test_a_bad_spec_is_refused_before_ray_is_asked(
    spec: JobSpec, said: str, state_dir: Path
) -> None:
    # An address nobody answers: a refusal that reached Ray would say "cannot reach".
    env = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_RAY_ADDRESS": "http://127.0.0.1:9"}
    scheduler = RayScheduler.from_env(SkillEnvironment.from_env(env))
    try:
        with pytest.raises(SchedulerError, match=said):
            scheduler.submit(spec)
    finally:
        scheduler.close()


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "-x", "a b"])
def test_a_job_id_that_is_not_one_word_never_reaches_a_url(bad: str, state_dir: Path) -> None:
    env = {"MLOPS_STATE_DIR": str(state_dir), "MLOPS_RAY_ADDRESS": "http://127.0.0.1:9"}
    scheduler = RayScheduler.from_env(SkillEnvironment.from_env(env))
    try:
        for call in (scheduler.get, scheduler.cancel, scheduler.requeue, scheduler.logs):
            with pytest.raises(SchedulerError, match="Ray job ids look like 'aiqu-"):
                call(bad)
    finally:
        scheduler.close()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "not JSON"),
        ('["Authorization"]', "must be a JSON object of header names to strings"),
        ('{"Authorization": 1}', "must be a JSON object of header names to strings"),
    ],
)
def test_a_headers_file_that_is_not_headers_is_refused_naming_it(
    content: str, said: str, tmp_path: Path
) -> None:
    headers = tmp_path / "headers.json"
    headers.write_text(content)
    env = {"MLOPS_RAY_ADDRESS": "http://ray:8265", "MLOPS_RAY_HEADERS_FILE": str(headers)}

    with pytest.raises(SchedulerError, match=f"MLOPS_RAY_HEADERS_FILE={headers}: {said}"):
        RayScheduler.from_env(SkillEnvironment.from_env({"MLOPS_STATE_DIR": str(tmp_path), **env}))
