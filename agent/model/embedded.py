"""The embedded model as a child of the service, supervised like the embedded MLflow.

`python -m agent.model serve` runs in a process group of its own with a
parent-death signal and a pid file (`agent.children`): a stopped service takes
it down, a SIGKILLed one too, and a start after a crash stops one left running.
It listens on loopback only. `start` returns once it answers, so the service is
ready (`/readyz`) only with a model that can take a turn; a child that dies is
started again, and the turns wait for it meanwhile (`ModelWatch` sees the
model unreachable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from agent.children import die_with_parent, forget_child, record_child
from agent.model.weights import Weights

log = logging.getLogger(__name__)

# Loading is seconds; on a busy 2-core machine, with the file read cold, up to minutes.
START_TIMEOUT_S = 300.0
STOP_GRACE_S = 10.0
RESTART_BACKOFF_S = (1.0, 5.0, 30.0)
CHILD_NAME = "model"


class EmbeddedModelError(Exception):
    """The model process did not start (the message carries the tail of its log)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedModel:
    def __init__(
        self,
        weights: Weights,
        model_dir: Path,
        *,
        state_dir: Path,
        context: int,
        slots: int,
        threads: int,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.weights = weights
        self.model_dir = model_dir.resolve()
        self.state_dir = state_dir.resolve()
        self.context = context
        self.slots = slots
        self.threads = threads
        self.start_timeout_s = start_timeout_s
        self.port = _free_port()
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._began = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model_id(self) -> str:
        return self.weights.model_id

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "model" / "model.log"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "agent.model",
            "serve",
            self.weights.setting,
            "--dir",
            str(self.model_dir),
            "--port",
            str(self.port),
            "--context",
            str(self.context),
            "--slots",
            str(self.slots),
            "--threads",
            str(self.threads),
        ]

    async def start(self) -> EmbeddedModel:
        """Start the process and wait until it answers; EmbeddedModelError if it does not."""
        await self.spawn()
        return await self.ready()

    async def spawn(self) -> None:
        """Start the process (it loads while the caller starts other things)."""
        self._stopping = False
        self._began = time.monotonic()
        await self._spawn()

    async def ready(self) -> EmbeddedModel:
        """Wait until the spawned process answers, then watch it."""
        try:
            await self._wait_ready()
        except BaseException:
            await self._kill()
            raise
        log.info(
            "embedded model %s up at %s in %.1f s (pid %s)",
            self.model_id,
            self.url,
            time.monotonic() - self._began,
            self.pid,
        )
        self._watcher = asyncio.create_task(self._watch(), name="embedded-model-watcher")
        return self

    async def _launch(self) -> None:
        await self._spawn()
        try:
            await self._wait_ready()
        except BaseException:
            await self._kill()
            raise

    async def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # `agent` must import from wherever the service itself was started.
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        with self.log_path.open("ab") as log_file:
            # Forked from the event loop's thread: the parent-death signal is tied to it.
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": path},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        record_child(self.state_dir, CHILD_NAME, self._proc.pid)

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._proc.returncode is not None:
                    raise EmbeddedModelError(
                        f"the embedded model exited with {self._proc.returncode} before it "
                        f"answered:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/models")).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise EmbeddedModelError(
            f"the embedded model did not answer within {self.start_timeout_s:.0f} s:\n"
            f"{self.log_tail()}"
        )

    async def _watch(self) -> None:
        failures = 0
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.error(
                "the embedded model exited with %s; starting it again\n%s", code, self.log_tail()
            )
            await self._kill()  # whatever it left in its group
            delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
            await asyncio.sleep(delay)
            try:
                await self._launch()
            except EmbeddedModelError as exc:
                failures += 1
                log.error("%s", exc)
                continue
            failures = 0
            self.restarts += 1

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> None:
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._kill()

    async def _kill(self) -> None:
        """SIGTERM the group, SIGKILL it after a grace period; forget the pid file."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                log.warning("the embedded model ignored SIGTERM for %.0f s; killing", STOP_GRACE_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
        forget_child(self.state_dir, CHILD_NAME)
