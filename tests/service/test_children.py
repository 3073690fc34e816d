"""Pid files of the service's children: a killed instance's leftovers are stopped at start,
and only they — a pid now used by another process is never signalled."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.children import (
    StateDirBusy,
    claim_state_dir,
    forget_child,
    record_child,
    stop_stale_children,
)
from core.lifetime import process_start_time

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def leader_with_child(started: list[subprocess.Popen[bytes]]) -> tuple[int, int]:
    """A group leader (like opencode) and a child in its group (like a skill): their pids."""
    code = "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code, *SLEEPER], start_new_session=True)
    started.append(proc)
    for _ in range(200):
        kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        if kids.stdout.split():
            return proc.pid, int(kids.stdout.split()[0])
        time.sleep(0.05)
    raise TimeoutError("the child did not start")


def test_a_stale_child_is_stopped_with_its_group(
    state_dir: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    leader, child = leader_with_child(spawn)
    record_child(state_dir, "opencode", leader)

    assert stop_stale_children(state_dir) == [leader]

    spawn[0].wait(5)
    assert process_start_time(child) is None
    assert not (state_dir / "run" / "opencode.pid").exists()


def test_a_reused_pid_is_left_alone(state_dir: Path, spawn: list[subprocess.Popen[bytes]]) -> None:
    other = subprocess.Popen(SLEEPER, start_new_session=True)
    spawn.append(other)
    record_child(state_dir, "mlflow", other.pid)
    path = state_dir / "run" / "mlflow.pid"
    record = json.loads(path.read_text())

    for changed in ({"start_time": record["start_time"] - 1}, {"cmdline": ["mlflow", "server"]}):
        path.write_text(json.dumps({**record, **changed}))
        assert stop_stale_children(state_dir) == []
        assert other.poll() is None  # not ours: never signalled
        assert not path.exists()


def test_gone_forgotten_and_unreadable_records_stop_nothing(
    state_dir: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    done = subprocess.Popen(["true"])
    done.wait()
    record_child(state_dir, "mlflow", done.pid)
    live = subprocess.Popen(SLEEPER, start_new_session=True)
    spawn.append(live)
    record_child(state_dir, "opencode", live.pid)
    forget_child(state_dir, "opencode")  # stopped cleanly
    (state_dir / "run" / "junk.pid").write_text("not json")

    assert stop_stale_children(state_dir) == []
    assert live.poll() is None
    assert list((state_dir / "run").iterdir()) == []


def test_one_instance_per_state_dir(state_dir: Path) -> None:
    held = claim_state_dir(state_dir)
    with pytest.raises(StateDirBusy, match="another mlops-agent is running on the state dir"):
        claim_state_dir(state_dir)
    held.close()  # the holder ended (a SIGKILL releases it the same way)
    claim_state_dir(state_dir).close()
