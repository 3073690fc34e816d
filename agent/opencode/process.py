"""One `opencode serve` subprocess: isolated, offline, password-protected.

Everything opencode keeps (its sqlite with the sessions, logs, caches) lives
under `<state_dir>/opencode/`, so a restarted process finds the same sessions.
It runs in a working directory of its own, so no AGENTS.md or project config
is ever picked up, and it is told not to reach the network for updates,
model lists, plugins or sharing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

from agent.children import die_with_parent, forget_child, record_child
from agent.opencode.errors import OpencodeStartError

log = logging.getLogger(__name__)

READY_LINE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
USERNAME = "opencode"

# Measured on 1.18.33: without these it fetches a models list and npm-installs
# plugins in the background.
OFFLINE_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
    "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
    # Even with all of the above, 1.18.33 npm-installs @opencode-ai/plugin into
    # its config dir in the background at start (and stalls shutdown while it
    # runs). npm's offline mode makes that fail at once, without the network.
    "npm_config_offline": "true",
}
# The only variables passed through from our own environment: the service's
# secrets (Slack tokens, webhook secret) never reach opencode or the skills.
PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
# 3-4 s on an idle machine; on a busy one (a build or a training job's data loaders beside
# it, skills importing MLflow) it has taken over 30 s. The bound is for a binary that hangs.
STARTUP_TIMEOUT_S = 120.0


class OpencodeProcess:
    def __init__(
        self,
        *,
        binary: Path,
        state_dir: Path,
        config: dict[str, Any],
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.binary = binary
        self.state_dir = state_dir.resolve()
        self.root = self.state_dir / "opencode"
        self.workdir = self.root / "work"
        self.config = config
        self.startup_timeout_s = startup_timeout_s
        self.password = secrets.token_urlsafe(32)
        self.url: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._drains: list[asyncio.Task[None]] = []
        self._output: collections.deque[str] = collections.deque(maxlen=40)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
        env.update(OFFLINE_ENV)
        env.update(
            {
                "HOME": str(self.root / "home"),
                "XDG_DATA_HOME": str(self.root / "data"),
                "XDG_CONFIG_HOME": str(self.root / "config"),
                "XDG_CACHE_HOME": str(self.root / "cache"),
                "XDG_STATE_HOME": str(self.root / "state"),
                "OPENCODE_CONFIG": str(self.root / "opencode.json"),
                "OPENCODE_SERVER_USERNAME": USERNAME,
                "OPENCODE_SERVER_PASSWORD": self.password,
            }
        )
        return env

    def _prepare_dirs(self) -> None:
        for name in ("home", "data", "config", "cache", "state", "work"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        config_file = self.root / "opencode.json"
        # The config holds the model API key: owner-only.
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.config, f, indent=2)

    async def start(self) -> str:
        """Start opencode and wait for its "listening on" line; returns its URL."""
        if self.running:
            raise RuntimeError("opencode is already running")
        if not self.binary.exists():
            raise OpencodeStartError(
                f"opencode binary not found at {self.binary}; `make install` puts it there"
            )
        self._prepare_dirs()
        self._output.clear()
        self._proc = await asyncio.create_subprocess_exec(
            str(self.binary),
            "serve",
            "--pure",
            "--hostname",
            "127.0.0.1",
            "--port",
            # `--port 0` means "4096 if free": pick a free port ourselves instead.
            str(_free_port()),
            cwd=self.workdir,
            env=self.environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Its own process group: stop() takes the MCP servers down with it.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        record_child(self.state_dir, "opencode", self._proc.pid)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        try:
            self.url = await asyncio.wait_for(
                self._read_until_listening(self._proc.stdout), self.startup_timeout_s
            )
        except (TimeoutError, OpencodeStartError) as exc:
            await self.stop()
            tail = "\n".join(self._output) or "(no output)"
            reason = "exited" if isinstance(exc, OpencodeStartError) else "timed out"
            raise OpencodeStartError(f"opencode {reason} before listening:\n{tail}") from None
        self._drains = [
            asyncio.create_task(self._drain(self._proc.stdout, "stdout")),
            asyncio.create_task(self._drain(self._proc.stderr, "stderr")),
        ]
        log.info("opencode pid %s listening on %s", self._proc.pid, self.url)
        return self.url

    async def _read_until_listening(self, stream: asyncio.StreamReader) -> str:
        while line := (await stream.readline()).decode(errors="replace"):
            self._output.append(line.rstrip())
            if match := READY_LINE.search(line):
                return match.group(1)
        raise OpencodeStartError("exited")

    async def _drain(self, stream: asyncio.StreamReader, name: str) -> None:
        # Keep reading so a full pipe never blocks opencode; keep a tail for errors.
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self._output.append(text)
            log.debug("opencode %s: %s", name, text)

    async def wait(self) -> int:
        """Wait for the process to exit; returns its exit code."""
        assert self._proc is not None, "opencode was never started"
        return await self._proc.wait()

    def output_tail(self) -> str:
        return "\n".join(self._output)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM opencode, SIGKILL it after `timeout_s`; then SIGKILL its group."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            # opencode alone: it closes its MCP servers itself. Signalled at the
            # same moment, they die first and its shutdown can stall for seconds.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                log.warning(
                    "opencode pid %s ignored SIGTERM for %s s; killing", proc.pid, timeout_s
                )
        # Whatever is left in the group (MCP servers of a crashed opencode) goes too.
        self._signal_group(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
        forget_child(self.state_dir, "opencode")
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)
        self._drains = []

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
