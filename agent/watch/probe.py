"""The aiqu skill's watch process, kept by the supervisor: one JSON line each way per pass.

The supervisor never imports a skill (docs/architecture.md), so it reaches the
scheduler backends as `python -m mcp_servers.aiqu.watch`, a child it starts
once and keeps: a pass then costs one scheduler call, not a Python start. A
child that died, hung past the timeout or answered garbage is killed and
started again at the next pass. It runs in its own process group with the
parent-death signal armed, and is recorded under `<state>/run/` like the
service's other children, so none outlives the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.children import die_with_parent, forget_child, record_child
from agent.opencode.process import PASSTHROUGH_ENV

log = logging.getLogger(__name__)

ENTRY = "mcp_servers.aiqu.watch"
CHILD_NAME = "aiqu-watch"
MAX_LINE_BYTES = 64 * 1024 * 1024  # a pass over thousands of watched jobs is one line


class ProbeError(Exception):
    """The watch process could not answer this pass; the message says why."""


class SchedulerProbe:
    def __init__(
        self, environment: Mapping[str, str], state_dir: Path, timeout_s: float = 120.0
    ) -> None:
        """`environment`: the skill environment (`SkillEnvironment.to_env()`); the child
        gets it plus what opencode passes the skills from our own (PATH, locale, TMPDIR),
        never the service's secrets."""
        own = {k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ}
        self.environment = {**own, **environment}
        self.state_dir = state_dir
        self.timeout_s = timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()  # one pass at a time: requests and answers pair up

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        if self.running:
            return
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            ENTRY,
            env=self.environment,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # its log lines join the service's
            limit=MAX_LINE_BYTES,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        record_child(self.state_dir, CHILD_NAME, self._proc.pid)
        log.info("scheduler watch process pid %s started", self._proc.pid)

    async def ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One pass: the request out, the answer in; ProbeError when there is none."""
        async with self._lock:
            await self.start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), self.timeout_s)
            except TimeoutError:
                await self._kill()
                raise ProbeError(f"no answer within {self.timeout_s:.0f} s; restarted") from None
            except (OSError, ValueError) as exc:  # a broken pipe, a line over the limit
                await self._kill()
                raise ProbeError(f"the watch process failed: {exc}") from None
            if not line:
                code = await proc.wait()
                self._proc = None
                raise ProbeError(f"the watch process exited (code {code}); restarting next pass")
        try:
            answer = json.loads(line)
        except ValueError:
            raise ProbeError(f"the watch process answered something else: {line[:200]!r}") from None
        if not answer.get("ok"):
            raise ProbeError(str(answer.get("error") or "no reason given"))
        return dict(answer)

    async def stop(self) -> None:
        """Close its input (it ends by itself), then make sure: SIGKILL to its group."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5.0)
        await self._kill()

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        forget_child(self.state_dir, CHILD_NAME)
