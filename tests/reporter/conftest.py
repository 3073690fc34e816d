"""A tiny stand-in for the agent's intake: Starlette under uvicorn on 127.0.0.1, verifying
each request with the service's own `verify_event`, recording what it accepted. It can
be stopped and started again on the same port to play an agent that is restarting."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.intake.webhook import IntakeRejected, verify_event
from mlops_reporter import Reporter
from tests.conftest import ROOT, free_port


@dataclass
class Received:
    headers: dict[str, str]
    event: dict[str, Any]
    arrived: float  # time.time() when the receiver accepted it


class Receiver:
    def __init__(self, secret: str, port: int) -> None:
        self.secret = secret
        self.port = port
        self.received: list[Received] = []
        self.attempts = 0
        # Statuses to answer instead of accepting, one per request, first in first out.
        self.refusals: list[int] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        return [r.event for r in self.received if type is None or r.event["type"] == type]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"got {len(self.received)} events, wanted {count}"
        return self.events()

    async def _hook(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.refusals:
            return JSONResponse({"error": "refused by test"}, status_code=self.refusals.pop(0))
        body = await request.body()
        try:
            verified = verify_event(self.secret, request.headers, body)
        except IntakeRejected as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        self.received.append(Received(dict(request.headers), verified.body, time.time()))
        return JSONResponse({"id": len(self.received)}, status_code=202)

    def start(self) -> None:
        app = Starlette(routes=[Route("/hooks/training", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            assert self._thread.is_alive(), "receiver failed to start"
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            assert not self._thread.is_alive(), "receiver did not stop"
        self._server = None
        self._thread = None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def receiver(secret: str) -> Iterator[Receiver]:
    r = Receiver(secret, free_port())
    r.start()
    yield r
    r.stop()


@pytest.fixture
def down_receiver(secret: str) -> Iterator[Receiver]:
    """A receiver not yet started: its port refuses connections until `start()`."""
    r = Receiver(secret, free_port())
    yield r
    r.stop()


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def make_reporter(secret: str, spool_dir: Path) -> Iterator[Callable[..., Reporter]]:
    """Reporters with fast retries for tests; each is closed at teardown."""
    made: list[Reporter] = []

    def make(receiver: Receiver | None = None, **kwargs: Any) -> Reporter:
        kwargs.setdefault("job", "test-job")
        if receiver is not None:
            kwargs.setdefault("url", receiver.url)
        kwargs.setdefault("secret", secret)
        kwargs.setdefault("spool_dir", spool_dir)
        kwargs.setdefault("retry_base_s", 0.05)
        kwargs.setdefault("retry_max_s", 0.2)
        kwargs.setdefault("timeout_s", 2.0)
        reporter = Reporter(**kwargs)
        made.append(reporter)
        return reporter

    yield make
    for reporter in made:
        reporter.close(timeout_s=0.5)


def script_env(receiver: Receiver, secret: str, spool_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "MLOPS_URL": receiver.url,
        "MLOPS_WEBHOOK_SECRET": secret,
        "MLOPS_SPOOL_DIR": str(spool_dir),
        **extra,
    }


def start_script(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `code` in a fresh interpreter from the repository root, with `env` added."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_script(
    code: str, env: dict[str, str], timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    proc = start_script(code, env)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    finally:
        proc.kill()
        proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture
def hanging_port() -> Iterator[tuple[int, socket.socket]]:
    """A port that accepts connections and never answers (an agent stuck mid-restart)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1], sock
    sock.close()
