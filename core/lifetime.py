"""Process lifetimes: a child dies with its parent, and a pid is known by its start time.

The supervisor starts opencode and its embedded tracking server in process groups of their own (so
stopping one takes its children along); opencode starts the skills. Nothing
in that chain outlives its parent, even one that is SIGKILLed, because every
level arms Linux's parent-death signal: the supervisor for its children
(`die_with_parent` as `preexec_fn`), each skill for itself (`follow_parent`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Arm SIGKILL for when this process's parent exits.

    As `preexec_fn` it runs in the new child. Linux ties the signal to the
    *thread* that forked, so fork from a thread that lives as long as the parent
    (the event loop's, not a pool thread that may exit first)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def follow_parent() -> None:
    """For a stdio server's own first line: die with whoever started it.

    Its only channel is its parent's pipes, so it has nothing to do once the
    parent is gone (a parent that died even before this ran leaves it reading
    end-of-file on stdin, which ends a stdio server too)."""
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died while the signal was being armed
        os._exit(1)


def process_start_time(pid: int) -> int | None:
    """Start time in clock ticks since boot, or None when the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_time = fields[0], fields[19]
    return None if state in ("Z", "X") else int(start_time)


def command_line(pid: int) -> list[str] | None:
    """The process's argv, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp ...
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members
