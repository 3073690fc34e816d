"""Cancel, requeue, time limits and restarts of the local backend, on real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from mcp_servers.aiqu.backends.base import JobState
from mcp_servers.aiqu.backends.local import LocalScheduler

from .conftest import spec, wait_for, wait_state

# Prints its process group id, then runs until killed.
FOREVER = "import os, time; print(os.getpgid(0), flush=True); time.sleep(120)"
STUBBORN = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print(os.getpgid(0), flush=True); time.sleep(120)"
)


def started(local: LocalScheduler, job_id: str) -> int:
    """Wait until the job printed its process group id; return it."""
    wait_for(lambda: local.logs(job_id).strip().isdigit(), what=f"job {job_id} to start")
    return int(local.logs(job_id))


def test_cancel_running_job_terminates_its_process_group(local: LocalScheduler):
    job = local.submit(spec(code=FOREVER, gpus=1))
    pgid = started(local, job.id)
    cancelled = local.cancel(job.id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.reason == "cancelled"
    wait_for(lambda: not _alive(pgid), timeout=5, what="the job's process group to be gone")


def test_cancel_escalates_to_sigkill_after_the_grace(local: LocalScheduler):
    job = local.submit(spec(code=STUBBORN))
    pgid = started(local, job.id)
    t0 = time.monotonic()
    assert local.cancel(job.id).state is JobState.CANCELLED
    assert time.monotonic() - t0 >= 1.0  # the grace was honoured before SIGKILL
    wait_for(lambda: not _alive(pgid), timeout=5, what="the job's process group to be gone")


def test_cancel_pending_job_never_runs_it(
    make_local: Callable[..., LocalScheduler], tmp_path: Path
):
    local = make_local(1)
    marker = tmp_path / "ran"
    blocker = local.submit(spec(code=FOREVER, gpus=1))
    waiting = local.submit(spec(code=f"open({str(marker)!r}, 'w').close()", gpus=1))
    cancelled = local.cancel(waiting.id)
    assert (cancelled.state, cancelled.reason) == (
        JobState.CANCELLED,
        "cancelled before it started",
    )
    local.cancel(blocker.id)
    time.sleep(0.3)  # several dispatcher passes
    assert not marker.exists()


def test_time_limit_stops_the_job(make_local: Callable[..., LocalScheduler]):
    offset = [0.0]
    local = make_local(1, clock=lambda: time.time() + offset[0])
    job = local.submit(spec(code=FOREVER, time_limit_min=1))
    started(local, job.id)
    offset[0] = 61  # a minute and a second later
    ended = wait_state(local, job.id, "failed")
    assert (ended.raw_state, ended.reason) == ("timeout", "time limit of 1 min reached")


def test_restarted_scheduler_finds_the_running_job_and_its_exit(
    make_local: Callable[..., LocalScheduler], tmp_path: Path
):
    release = tmp_path / "release"
    code = (
        f"import pathlib, time\nwhile not pathlib.Path({str(release)!r}).exists():"
        " time.sleep(0.05)\nraise SystemExit(4)"
    )
    before = make_local(1)
    job = before.submit(spec(code=code, gpus=1))
    assert before.get(job.id).state is JobState.RUNNING
    before.close()

    after = make_local(1)
    found = after.get(job.id)
    assert (found.state, found.started_at) == (JobState.RUNNING, job.started_at)
    assert after.submit(spec(gpus=1)).state is JobState.PENDING  # its GPU is still taken
    release.touch()
    ended = wait_state(after, job.id, "failed")
    assert (ended.exit_code, ended.reason) == (4, "exit code 4")


def test_restarted_scheduler_can_cancel_a_job_it_did_not_start(
    make_local: Callable[..., LocalScheduler],
):
    before = make_local(1)
    job = before.submit(spec(code=FOREVER))
    pgid = started(before, job.id)
    before.close()
    assert make_local(1).cancel(job.id).state is JobState.CANCELLED
    wait_for(lambda: not _alive(pgid), timeout=5, what="the job's process group to be gone")


def test_job_whose_process_vanished_is_failed_with_a_reason(
    make_local: Callable[..., LocalScheduler],
):
    before = make_local(1)
    job = before.submit(spec(code=FOREVER))
    pgid = started(before, job.id)
    before.close()
    os.killpg(pgid, signal.SIGKILL)  # runner and job die without recording an exit code
    wait_for(lambda: not _alive(pgid), what="the process group to die")

    ended = make_local(1).get(job.id)
    assert ended.state is JobState.FAILED
    assert ended.raw_state == "vanished"
    assert ended.reason is not None and "process vanished without an exit code" in ended.reason


def test_pid_reused_by_another_process_is_not_mistaken_for_the_job(
    make_local: Callable[..., LocalScheduler], state_dir: Path
):
    before = make_local(1)
    job = before.submit(spec(code=FOREVER))
    pgid = started(before, job.id)
    before.close()
    os.killpg(pgid, signal.SIGKILL)
    # As after a reboot: the recorded pid now belongs to a live, unrelated process.
    with sqlite3.connect(state_dir / "aiqu" / "local.sqlite") as db:
        db.execute("UPDATE jobs SET pid = ? WHERE id = ?", (os.getpid(), int(job.id)))
    assert make_local(1).get(job.id).raw_state == "vanished"
    os.kill(os.getpid(), 0)  # and this test process was of course not signalled


def test_two_schedulers_on_one_state_dir_never_double_book_a_gpu(
    make_local: Callable[..., LocalScheduler], tmp_path: Path
):
    log = tmp_path / "intervals"
    code = (
        "import os, time; t0 = time.time(); time.sleep(0.15)\n"
        f"with open({str(log)!r}, 'a') as f:"
        " f.write(' '.join([os.environ['MLOPS_JOB_ID'], os.environ['CUDA_VISIBLE_DEVICES'],"
        " str(t0), str(time.time())]) + '\\n')"
    )
    a, b = make_local(2), make_local(2)
    jobs = [(a if i % 2 else b).submit(spec(code=code, gpus=1)) for i in range(8)]
    for job in jobs:
        wait_state(a, job.id, "succeeded", timeout=30)
    rows = [line.split() for line in log.read_text().splitlines()]
    assert sorted(r[0] for r in rows) == sorted(j.id for j in jobs)  # each ran exactly once
    for gpu in ("0", "1"):
        spans = sorted((float(r[2]), float(r[3])) for r in rows if r[1] == gpu)
        assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:], strict=False))


def _alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group? Zombies of closed schedulers don't count."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
