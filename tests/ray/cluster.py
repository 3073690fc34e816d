"""A real Ray head for the tests (`make install-ray` builds `.venv-ray`), reached over loopback.

The head runs alone in a private network namespace (see `launch.py`: Ray 2.60
listens on every interface otherwise); its dashboard is relayed to a port on
127.0.0.1 here. Two fake GPUs (`--num-gpus=2`) on this CPU machine: Ray really
queues GPU jobs and sets `CUDA_VISIBLE_DEVICES` for them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT

# `make install-ray` builds it; RAY_TEST_VENV points elsewhere (tests/test_strict.py).
RAY_VENV = Path(os.environ.get("RAY_TEST_VENV") or ROOT / ".venv-ray")
RAY_BIN = RAY_VENV / "bin" / "ray"
LAUNCH = Path(__file__).resolve().with_name("launch.py")
# Measured 7-19 s on this machine type; the machine is often loaded.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 90.0


class RayUnavailable(RuntimeError):
    """The head did not start; the message carries its log's last lines."""


def missing_tools() -> str | None:
    """Why a Ray head cannot be started here, or None when it can."""
    if not RAY_BIN.exists():
        return f"no Ray for the tests at {RAY_VENV}: run `make install-ray`"
    if os.geteuid() != 0:
        return "the Ray tests need root: the head runs in a private network namespace"
    absent = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if absent:
        return f"tools missing for the Ray head's network namespace: {', '.join(absent)}"
    return None


@dataclass
class RayHead:
    url: str  # the dashboard, as the agent's MLOPS_RAY_ADDRESS
    process: subprocess.Popen[bytes]
    temp_dir: Path

    def env(self) -> dict[str, str]:
        """What the skill needs to use this cluster."""
        return {"MLOPS_SCHEDULER": "ray", "MLOPS_RAY_ADDRESS": self.url}

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The dashboard's REST API directly, as another user of the cluster would call it."""
        response = httpx.request(method, f"{self.url}{path}", timeout=60, **kw)
        response.raise_for_status()
        return response

    def submit(self, entrypoint: str, **fields: Any) -> str:
        """A job someone submitted outside aiqu (`ray job submit`); its submission id."""
        body = {"entrypoint": entrypoint, **fields}
        return str(self.request("POST", "/api/jobs/", json=body).json()["submission_id"])

    def status(self, submission_id: str) -> str:
        return str(self.request("GET", f"/api/jobs/{submission_id}").json()["status"])

    def stop_all(self) -> None:
        """Leave both GPUs free for the next test: stop every job that has not ended."""
        jobs = self.request("GET", "/api/jobs/").json()
        active = [j["submission_id"] for j in jobs if j["status"] in ("PENDING", "RUNNING")]
        for submission_id in active:
            if submission_id:
                self.request("POST", f"/api/jobs/{submission_id}/stop")
        deadline = time.monotonic() + 60
        while any(self.status(i) in ("PENDING", "RUNNING") for i in active if i):
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs {active} did not stop within 60 s")
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        path = self.temp_dir / "ray-start.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the launcher, which stops `ray start --block` and with it the head."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_head(gpus: int = 2, cpus: int = 2) -> RayHead:
    """Start a head and wait until its Jobs API answers; RayUnavailable if it does not."""
    # Short: Ray's unix sockets live under it and their paths may not exceed 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {
        "PATH": f"{RAY_VENV / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(temp),
        "TMPDIR": str(temp),
        "LANG": "C.UTF-8",
        "RAY_USAGE_STATS_ENABLED": "0",
        # A test head has nothing to drain: its stop takes seconds, not half a minute.
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }
    with open(temp / "launch.log", "ab") as log:
        process = subprocess.Popen(
            [
                "unshare",
                "--net",
                "--",
                sys.executable,
                "-I",
                str(LAUNCH),
                "--listen-fd",
                str(listener.fileno()),
                "--ray",
                str(RAY_BIN),
                "--temp-dir",
                str(temp),
                f"--gpus={gpus}",
                f"--cpus={cpus}",
            ],  # fmt: skip
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    listener.close()
    head = RayHead(url, process, temp)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{url}/api/version", timeout=5).status_code == 200:
                return head
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            launch_log = (temp / "launch.log").read_text(errors="replace")[-2000:]
            detail = f"{launch_log}\n{head.log_tail()}".strip()
            head.stop()
            raise RayUnavailable(f"the Ray head did not start within {START_TIMEOUT_S} s: {detail}")
        time.sleep(0.5)
