"""The container engine the container tests drive: podman (or docker), bounded in time.

podman runs with the project's own `container/containers.conf` (runc, the
cgroupfs manager, no default ulimits), named by CONTAINERS_CONF, so the
machine's configuration is never touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from tests.conftest import ROOT

CONTAINERS_CONF = ROOT / "container" / "containers.conf"


class EngineError(Exception):
    """A podman/docker command failed; the message carries its output."""


@dataclass(frozen=True)
class Engine:
    binary: str  # "podman" or "docker"

    @property
    def is_podman(self) -> bool:
        return self.binary == "podman"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.is_podman:
            env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
        return env

    def __call__(
        self, *args: str, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise EngineError(
                f"{self.binary} {' '.join(args[:3])} … exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
            )
        return result

    def output(self, *args: str, timeout: float = 120.0) -> str:
        return self(*args, timeout=timeout).stdout

    async def run(
        self, *args: str, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """The same from a test's event loop, which must keep serving the fake Slack meanwhile."""
        return await asyncio.to_thread(self, *args, timeout=timeout, check=check)

    def remove(self, *, containers: Sequence[str] = (), volumes: Sequence[str] = ()) -> None:
        """Remove what a test made, by name; never anything else."""
        for name in containers:
            self("rm", "--force", name, check=False, timeout=60)
        for name in volumes:
            self("volume", "rm", "--force", name, check=False, timeout=60)


def find_engine() -> tuple[Engine | None, str]:
    """podman where it is installed, else a docker whose daemon answers; else why not."""
    if shutil.which("podman"):
        engine = Engine("podman")
        info = engine("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
        if info.returncode == 0:
            return engine, ""
        return None, f"podman is installed but cannot run: {info.stderr.strip()[-500:]}"
    if shutil.which("docker"):
        engine = Engine("docker")
        if engine("info", check=False, timeout=60).returncode == 0:
            return engine, ""
        return None, "docker is installed but its daemon does not answer; podman is absent"
    return None, "neither podman nor docker is installed (scripts/install-system-packages.sh)"
