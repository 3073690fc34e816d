"""A local MLflow tracking server: the service's embedded default and the tests' real MLflow.

MLflow's own app in one process (`agent.service.mlflow_app`: uvicorn in-process, one
worker, job execution off). `mlflow server` would be two processes of ~0.5 GB
each, the first only waiting for the second; its defaults start 15 (~2.7 GB).
Runs live in sqlite under the given directory; artifacts are proxied by the
server (`mlflow-artifacts:/`) into `<dir>/artifacts`, so jobs need only the
URI, not a shared filesystem.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from agent.children import die_with_parent, forget_child, record_child
from mcp_servers.registry import environment as skills_environment

log = logging.getLogger(__name__)

# ~7 s on an idle 2-core machine; a loaded CI box has been far slower.
DEFAULT_START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


class MlflowServerError(Exception):
    """The server did not start (the message carries the tail of its log)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """Start with `start()` (or `with MlflowServer(dir) as server:`), read `.uri`, `stop()`."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        *,
        state_dir: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        # Where the service keeps its children's pid files (`agent.children`); None: nowhere.
        self.state_dir = state_dir
        self.port = port or _free_port()
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mlflow-server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            # This interpreter, so the server matches the client library's version.
            sys.executable,
            "-m",
            "agent.service.mlflow_app",
            "--backend-store-uri",
            f"sqlite:///{self.data_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.data_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def start(self) -> MlflowServer:
        """Start the server and wait until `/health` answers; raise MlflowServerError if not."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # `agent` must import from wherever the service itself was started.
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = {
            **os.environ,
            "PYTHONPATH": path,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            **skills_environment(),  # telemetry off, as in every process the service starts
        }
        with self.log_path.open("ab") as log_file:
            # Own process group: stop() reaches anything MLflow itself may fork.
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.data_dir,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        if self.state_dir is not None:
            record_child(self.state_dir, "mlflow", self._process.pid)
        began = time.monotonic()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        log.info("mlflow server up at %s in %.1f s", self.uri, time.monotonic() - began)
        return self

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout_s
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise MlflowServerError(
                        f"mlflow server exited with {self._process.returncode} before it "
                        f"answered:\n{self._log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(self.uri + "/health").status_code == 200:
                        return
                time.sleep(0.2)
        raise MlflowServerError(
            f"mlflow server did not answer {self.uri}/health within "
            f"{self.start_timeout_s:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Terminate the process group; kill it if it has not exited after a grace period."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("mlflow server ignored SIGTERM for %.0f s; killing", STOP_GRACE_S)
        # Anything it forked may outlive it: sweep the whole group either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_S)
        if self.state_dir is not None:
            forget_child(self.state_dir, "mlflow")

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
