"""Child processes die with the supervisor, even when it is SIGKILLed.

opencode and the embedded MLflow server run in their own process groups (so
stop() can take their children down), which also means nothing kills them if
the supervisor is killed outright. Linux's parent-death signal closes that
gap: a restarted supervisor never finds an orphaned opencode still holding
its state.
"""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` for subprocesses: SIGKILL this child when its parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
