"""Operating-system plumbing for the local backend: start, find, signal, read logs.

A job's process is identified by pid *and* its start time from /proc, so a pid
the kernel handed to an unrelated process after a reboot or a wrap-around is
never mistaken for the job (or signalled).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from core.lifetime import process_start_time

LOG_FILE = "output.log"
RUNNER = Path(__file__).with_name("runner.py")


def is_alive(pid: int | None, start_time: int | None) -> bool:
    """True when `pid` is still the process that started at `start_time`."""
    if pid is None or start_time is None:
        return False
    return process_start_time(pid) == start_time


def signal_group(pid: int | None, start_time: int | None, sig: signal.Signals) -> bool:
    """Signal the job's process group (the runner leads it); False when already gone."""
    if pid is None or not is_alive(pid, start_time):
        return False
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    return True


def spawn_runner(
    jobdir: Path, command: list[str], env: Mapping[str, str], cwd: str | None
) -> subprocess.Popen[bytes]:
    """Start the job under the runner, in a new session so it outlives this process."""
    with open(jobdir / LOG_FILE, "ab") as log:
        return subprocess.Popen(
            # By path and isolated (-I): the runner is stdlib-only and must start
            # whatever the job's cwd and environment are.
            [sys.executable, "-I", str(RUNNER), str(jobdir), "--", *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )


def detect_gpus(timeout_s: float = 10.0) -> int:
    """GPUs `nvidia-smi -L` lists; 0 when it is absent or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run(
            [exe, "-L"], capture_output=True, text=True, timeout=timeout_s, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def tail_file(path: Path, lines: int, max_bytes: int = 64 * 1024) -> str:
    """The last `lines` lines of a file, reading at most `max_bytes` from its end."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if size > max_bytes:
        text = text.split("\n", 1)[-1]  # drop the partial first line
    return tail_text(text, lines)


def tail_text(text: str, lines: int) -> str:
    """The last `lines` lines of `text`."""
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""
