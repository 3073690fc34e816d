"""`with reporter.run()` / `@report`: started, then finished or crashed (re-raised); a
crash report survives the process exiting, even while the agent restarts."""

from __future__ import annotations

import os
import threading
import time

import pytest

from mlops_reporter import report
from mlops_reporter.events import MAX_MESSAGE_CHARS, MAX_TRACEBACK_CHARS, crash_fields
from mlops_reporter.spool import Spool
from tests.reporter.conftest import run_script, script_env, start_script


def failing_training_step() -> None:
    raise ValueError("loss is nan at step 1200")


def test_run_reports_started_then_finished(receiver, make_reporter):
    reporter = make_reporter(receiver)
    with reporter.run(lr=0.01):
        reporter.epoch(1)
    events = receiver.wait_for(3)
    assert [e["type"] for e in events] == ["started", "epoch", "finished"]
    assert events[0]["lr"] == 0.01


def test_an_exception_is_reported_with_its_traceback_then_re_raised(receiver, make_reporter):
    reporter = make_reporter(receiver)
    with pytest.raises(ValueError, match="loss is nan"), reporter.run():
        failing_training_step()
    events = receiver.wait_for(2)
    assert [e["type"] for e in events] == ["started", "crashed"]
    crash = events[1]
    assert crash["exception"] == "ValueError"
    assert crash["message"] == "loss is nan at step 1200"
    assert "failing_training_step" in crash["traceback"]
    assert crash["traceback"].rstrip().endswith("ValueError: loss is nan at step 1200")


def test_sys_exit_zero_is_a_finish_and_nonzero_a_crash(receiver, make_reporter):
    reporter = make_reporter(receiver)
    with pytest.raises(SystemExit), reporter.run():
        raise SystemExit(0)
    with pytest.raises(SystemExit), reporter.run():
        raise SystemExit(3)
    events = receiver.wait_for(4)
    assert [e["type"] for e in events] == ["started", "finished", "started", "crashed"]
    assert events[3]["exception"] == "SystemExit"


def test_the_decorator_reports_and_re_raises(receiver, secret, spool_dir, monkeypatch):
    monkeypatch.setenv("MLOPS_URL", receiver.url)
    monkeypatch.setenv("MLOPS_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("MLOPS_SPOOL_DIR", str(spool_dir))

    @report(job="decorated", dataset="v3")
    def train(steps: int) -> int:
        if steps < 0:
            failing_training_step()
        return steps

    assert train(5) == 5
    with pytest.raises(ValueError):
        train(-1)
    events = receiver.wait_for(4)
    assert [e["type"] for e in events] == ["started", "finished", "started", "crashed"]
    assert {e["job"] for e in events} == {"decorated"}
    assert events[0]["dataset"] == "v3"


def test_a_huge_traceback_keeps_its_tail():
    try:
        raise RuntimeError("x" * 50_000 + " THE END")
    except RuntimeError as exc:
        fields = crash_fields(exc)
    assert fields["message"].endswith(" THE END")
    assert len(fields["message"]) < MAX_MESSAGE_CHARS + 50
    assert fields["traceback"].startswith("[... ")
    assert fields["traceback"].rstrip().endswith(" THE END")
    assert len(fields["traceback"]) < MAX_TRACEBACK_CHARS + 50


def test_an_uncaught_crash_is_flushed_at_exit(receiver, secret, spool_dir):
    result = run_script(
        "from mlops_reporter import Reporter\n"
        "r = Reporter(job='exits')\n"
        "with r.run():\n"
        "    raise MemoryError('CUDA out of memory')\n",
        script_env(receiver, secret, spool_dir),
    )
    assert result.returncode == 1
    assert "MemoryError: CUDA out of memory" in result.stderr  # the script's own traceback
    assert [e["type"] for e in receiver.events()] == ["started", "crashed"]


def test_a_crash_reaches_an_agent_that_comes_back_during_the_exit_flush(
    down_receiver, secret, spool_dir
):
    proc = start_script(
        "from mlops_reporter import Reporter\nReporter().crashed(RuntimeError('boom'))\n",
        script_env(down_receiver, secret, spool_dir, MLOPS_JOB="restarting"),
    )
    try:
        time.sleep(1.0)  # the agent is down while the crash is reported
        down_receiver.start()
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert [e["type"] for e in down_receiver.events()] == ["crashed"]
    assert not (spool_dir / "restarting.jsonl").exists()


def test_exit_with_a_dead_agent_is_bounded_and_keeps_everything(down_receiver, secret, spool_dir):
    start = time.monotonic()
    result = run_script(
        "from mlops_reporter import Reporter\n"
        "r = Reporter(job='dead', crash_flush_timeout_s=1.0)\n"
        "r.started()\n"
        "for e in range(1, 101): r.epoch(e)\n"
        "r.crashed(RuntimeError('boom'))\n",
        script_env(down_receiver, secret, spool_dir),
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    assert elapsed < 5, f"exit took {elapsed:.1f} s"
    lines = (spool_dir / "dead.jsonl").read_text().splitlines()
    assert len(lines) == 102


def test_closed_reporters_leave_no_thread_or_file_descriptor_behind(
    down_receiver, make_reporter, spool_dir
):
    # e.g. an in-process hyperparameter search with a decorated objective: one reporter
    # per trial, thousands of trials. The agent is down, so every reporter uses the spool.
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def reporter_threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "mlops-reporter")

    threads_before, fds_before = reporter_threads(), open_fds()
    for trial in range(20):
        reporter = make_reporter(down_receiver)
        reporter.started(trial=trial)
        assert not reporter.close(5)  # left in the spool for later
    deadline = time.monotonic() + 5
    while reporter_threads() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reporter_threads() == threads_before
    assert open_fds() == fds_before
    assert len(Spool(spool_dir, "test-job").read()) == 20
