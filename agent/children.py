"""The processes the service starts: none outlives it, none is left over from a killed one.

opencode and the embedded MLflow server run in process groups of their own
(so stopping one takes its children along) with a parent-death signal
(`core.lifetime.die_with_parent`), and the skills opencode starts arm their
own: a SIGKILLed supervisor takes the whole tree down. As a second line, each
child is recorded in a pid file under `<state>/run/`; at start, a child of a
previous instance still running is stopped (with its group) before a new one
starts — known by its pid *and* start time and command line, so a pid the
kernel has since handed to an unrelated process is never signalled. A lock on
the state dir (released by the kernel however the holder ends) makes sure the
"previous instance" is not still running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import IO

from core.lifetime import command_line, die_with_parent, group_members, process_start_time

log = logging.getLogger(__name__)

RUN_DIR = "run"
STOP_WAIT_S = 5.0

__all__ = [
    "StateDirBusy",
    "claim_state_dir",
    "die_with_parent",
    "forget_child",
    "record_child",
    "stop_stale_children",
]


class StateDirBusy(Exception):
    """Another instance of the service runs on this state dir."""


def claim_state_dir(state_dir: Path) -> IO[str]:
    """Lock the state dir for this instance; keep the returned file open until the end."""
    path = state_dir / RUN_DIR / "service.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.open("a+")  # not inherited by children (PEP 446): the lock dies with us
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise StateDirBusy(
            f"another mlops-agent is running on the state dir {state_dir}: stop it first, "
            "or give this one its own MLOPS_STATE_DIR"
        ) from None
    return lock


def _pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / RUN_DIR / f"{name}.pid"


def record_child(state_dir: Path, name: str, pid: int) -> None:
    """Remember a started child (the leader of its own process group) as `name`."""
    path = _pid_file(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "start_time": process_start_time(pid), "cmdline": command_line(pid)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def forget_child(state_dir: Path, name: str) -> None:
    """The child `name` was stopped cleanly."""
    _pid_file(state_dir, name).unlink(missing_ok=True)


def stop_stale_children(state_dir: Path) -> list[int]:
    """SIGKILL the groups of recorded children still running; returns their pids."""
    stopped = []
    run_dir = state_dir / RUN_DIR
    for path in sorted(run_dir.glob("*.pid")) if run_dir.is_dir() else []:
        pid = _still_ours(path)
        if pid is not None:
            log.warning("stopping %s (pid %s) left running by a previous instance", path.stem, pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid)
            stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


def _still_ours(path: Path) -> int | None:
    """The recorded pid when that very process still runs, else None."""
    try:
        record = json.loads(path.read_text())
        pid, start_time, cmdline = int(record["pid"]), record["start_time"], record["cmdline"]
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable pid file %s", path)
        return None
    if start_time is None or process_start_time(pid) != start_time:
        return None
    if command_line(pid) != cmdline:
        return None
    return pid


def _wait_gone(pgid: int) -> None:
    """SIGKILL lands asynchronously: wait until no member of the group still runs."""
    deadline = time.monotonic() + STOP_WAIT_S
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
