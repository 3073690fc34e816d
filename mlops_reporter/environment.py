"""What the reporter learns about the process it runs in: rank, host, GPUs, MLflow run.

Each function takes the environment (and loaded modules) as arguments so it can be
tested without touching the real process; none of them imports a heavy library.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any


def process_rank(environ: Mapping[str, str]) -> int:
    """The distributed rank: `RANK`, else `LOCAL_RANK`, else 0 (unparseable counts as 0)."""
    for key in ("RANK", "LOCAL_RANK"):
        value = environ.get(key, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def gpu_count(environ: Mapping[str, str], modules: Mapping[str, ModuleType]) -> int | None:
    """GPUs this process may use.

    `CUDA_VISIBLE_DEVICES` when set (CUDA stops at the first invalid entry, e.g. `-1`);
    otherwise torch's count, but only if the script already imported torch: importing it
    here would cost seconds and pull CUDA into a process that may never use it.
    """
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = 0
        for entry in visible.split(","):
            entry = entry.strip()
            if not entry or entry.startswith("-"):
                break
            count += 1
        return count
    torch = modules.get("torch")
    if torch is None:
        return None
    try:
        return int(torch.cuda.device_count())
    except Exception:  # a broken CUDA install must not break reporting
        return None


def active_mlflow_run_id(modules: Mapping[str, ModuleType]) -> str | None:
    """The run id of the MLflow run active on this thread, if the script uses MLflow."""
    mlflow: Any = modules.get("mlflow")
    if mlflow is None:
        return None
    try:
        run = mlflow.active_run()
    except Exception:
        return None
    return None if run is None else str(run.info.run_id)


def host_name() -> str:
    return socket.gethostname()


def script_name() -> str:
    """The running script's file stem (`train` for `python train.py`), the default job name."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    stem = Path(argv0).stem
    return stem if stem and stem not in ("-c", "-m") else "python"


def os_user(environ: Mapping[str, str]) -> str | None:
    """The login name, as `getpass.getuser()` finds it (LOGNAME, USER, LNAME, USERNAME,
    then the password database), or None in a container whose uid has no name."""
    for key in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        name = environ.get(key, "").strip()
        if name:
            return name
    try:
        import pwd  # Unix only

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return None
