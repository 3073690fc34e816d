"""The tiny wrapper every local job runs under: `python -I runner.py <jobdir> -- cmd...`.

It outlives the skill (the scheduler starts it in its own session) and records
the command's exit code in `<jobdir>/exit_code`, so whoever looks next — this
skill after a restart, or another process on the same state dir — can tell a
job that ended from one whose process vanished. Output goes wherever the
scheduler pointed this process's stdout/stderr (the attempt's log file).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

EXIT_CODE_FILE = "exit_code"
# Exit code recorded when the command cannot be started at all (as a shell would).
NOT_STARTED = 127


def record_exit_code(jobdir: Path, code: int) -> None:
    # Write-then-rename: a reader never sees a half-written file.
    tmp = jobdir / (EXIT_CODE_FILE + ".tmp")
    tmp.write_text(f"{code}\n")
    os.replace(tmp, jobdir / EXIT_CODE_FILE)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: runner.py <jobdir> -- cmd [args...]", file=sys.stderr)
        return 2
    jobdir, command = Path(argv[0]), argv[2:]
    # A cancel signals the whole process group: the command gets the SIGTERM
    # directly; this wrapper stays alive to record how the command ended.
    # A handler (unlike SIG_IGN) is reset at exec, so the command stays killable.
    signal.signal(signal.SIGTERM, _keep_running)
    signal.signal(signal.SIGINT, _keep_running)
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"aiqu runner: cannot start {command[0]!r}: {exc}", file=sys.stderr, flush=True)
        record_exit_code(jobdir, NOT_STARTED)
        return NOT_STARTED
    code = child.wait()
    record_exit_code(jobdir, code)
    return 0


def _keep_running(signum: int, frame: object) -> None:
    pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
