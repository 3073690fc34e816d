"""podman, as the Slurm test harness runs it: the project's containers.conf, root only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CONTAINERS_CONF = Path(__file__).resolve().parent / "containers.conf"
TOOLS = ("podman", "runc", "mmdebstrap", "nsenter")


class PodmanError(RuntimeError):
    """podman refused; the message carries its own words."""


def missing_tools() -> str | None:
    """Why Slurm containers cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "real Slurm tests need root (rootful podman, nsenter); run as root"
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return (
            f"container tools missing ({', '.join(absent)}): "
            "run scripts/install-system-packages.sh as root"
        )
    return None


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run one podman command; its stdout, or PodmanError with its stderr."""
    done = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        detail = done.stderr.strip() or done.stdout.strip() or "no output"
        raise PodmanError(f"podman {args[0]} failed (exit {done.returncode}): {detail}")
    return done.stdout
