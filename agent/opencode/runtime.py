"""The reasoning core as the turn engine sees it: run a turn, get its result.

The runtime owns one opencode process and keeps it alive: a watcher waits on
the process and starts a new one whenever it exits unasked. Sessions live in
opencode's sqlite under the state dir, so session ids survive a restart. A
turn that was in flight when opencode died raises `OpencodeRestarted` once the
new process is up, and the caller sends the turn again.

Every start brings the skills up and checks them before the runtime counts as
started, so the first turn is as quick as any other. `before_turn`, called as
each turn starts, does the upkeep that must happen between turns: it restarts
opencode when it has grown past its memory limit or the brief changed (new
turns wait while the ones in flight finish; sessions persist), and restarts
any skill found dead, so no turn runs with a skill silently missing.

The parts, each with one concern: `OpencodeLifecycle` (the process: start, watch,
restart), `SkillKeeper` (the skills), `WarmUp` (the warm-up turn), `TurnAdmission`
(which turns may run while a restart waits) and `TurnRunner` (one turn). This class
puts them together and is what the turn engine and the service call.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from agent import metrics
from agent.opencode.admission import TurnAdmission
from agent.opencode.client import ModelRef, OpencodeClient, TurnResult
from agent.opencode.config import AGENT_NAME
from agent.opencode.lifecycle import OpencodeLifecycle
from agent.opencode.liveness import rss_bytes, skill_commands
from agent.opencode.process import STARTUP_TIMEOUT_S, OpencodeProcess
from agent.opencode.skills import SkillKeeper
from agent.opencode.turn import TurnRunner
from agent.opencode.warmup import PromptHook, WarmUp

DEFAULT_BINARY = Path(__file__).resolve().parents[2] / ".tools/opencode/node_modules/.bin/opencode"
_MIB = 1024 * 1024


class PromptSource(Protocol):
    async def refresh(self) -> bool:
        """Rewrite the prompt file opencode reads if the brief changed; True when it did."""
        ...


class OpencodeRuntime:
    def __init__(
        self,
        *,
        binary: Path,
        state_dir: Path,
        config: dict[str, Any],
        model: ModelRef,
        model_base_url: str,
        model_api_key: str = "none",
        agent: str = AGENT_NAME,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        max_rss_mb: float | None = None,
        prompt: PromptSource | None = None,
        on_prompt: PromptHook | None = None,
    ) -> None:
        self.model_base_url = model_base_url.rstrip("/")
        self._model_api_key = model_api_key
        self.max_rss_mb = max_rss_mb
        self.prompt = prompt
        self._process = OpencodeProcess(
            binary=binary, state_dir=state_dir, config=config, startup_timeout_s=startup_timeout_s
        )
        self._skills = SkillKeeper(skill_commands(config), self._process)
        self._life = OpencodeLifecycle(
            self._process, self._skills, WarmUp(config, agent, on_prompt)
        )
        self._turns = TurnRunner(self._life, agent=agent, model=model)
        self._admission = TurnAdmission()
        self._upkeep = asyncio.Lock()  # one between-turns check at a time

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def restarts(self) -> int:
        return self._life.restarts

    @property
    def model(self) -> ModelRef:
        return self._turns.model

    @property
    def agent(self) -> str:
        return self._turns.agent

    @property
    def _client(self) -> OpencodeClient | None:
        # The running process's raw client, for tests and benches that prompt it directly.
        return self._life.client

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start opencode; raises OpencodeStartError if it does not come up."""
        await self._life.start()

    async def stop(self) -> None:
        await self._life.stop()

    # -- between turns -----------------------------------------------------------

    async def before_turn(self) -> list[str]:
        """Upkeep at a turn's start; returns notes for the turn (a skill still missing).

        Restarts opencode when it has grown past `max_rss_mb` or the brief changed,
        after the turns in flight have finished (later ones wait); then restarts
        any skill that is not connected with a live process."""
        async with self._upkeep:
            if not self._life.up.is_set():
                return []  # (re)starting now: the turn waits for it and its skills
            reason = await self._restart_reason()
            if reason is not None:
                async with self._admission.exclusive():
                    await self._life.restart(*reason)
            client = self._life.client
            assert client is not None
            return await self._skills.restart_missing(client)

    async def _restart_reason(self) -> tuple[str, str] | None:
        rss = rss_bytes(self.pid)
        if rss is not None:
            metrics.OPENCODE_RSS.set(rss)
        if self.prompt is not None and await self.prompt.refresh():
            return "brief", "the brief changed"
        if rss is not None and self.max_rss_mb and rss > self.max_rss_mb * _MIB:
            return "memory", f"RSS {rss / _MIB:.0f} MiB over the {self.max_rss_mb:.0f} MiB limit"
        return None

    # -- health ----------------------------------------------------------------

    async def ready(self) -> bool:
        """opencode is running, answers its health check, and every skill is connected."""
        client = self._life.client
        if not (self._life.up.is_set() and client is not None and await client.health()):
            return False
        return await self._skills.all_connected(client)

    async def model_reachable(self) -> bool:
        """The model endpoint answers `GET {base_url}/models` within 2 s."""
        headers = {"Authorization": f"Bearer {self._model_api_key}"}
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                response = await http.get(f"{self.model_base_url}/models", headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # -- sessions and turns ----------------------------------------------------

    async def ensure_session(self, title: str, session_id: str | None = None) -> str:
        """`session_id` if opencode still has it, else a new session titled `title`."""
        deadline = time.monotonic() + 30.0
        async with self._admission.slot(deadline):
            return await self._turns.ensure_session(title, session_id, deadline)

    async def run_turn(self, session_id: str, text: str, timeout_s: float) -> TurnResult:
        """Send `text` to the session and return the turn's result.

        Raises TurnTimeout (after aborting the turn) when it runs past
        `timeout_s`, and OpencodeRestarted when opencode died during the turn:
        it has been restarted by then, and the caller should send the turn again.
        """
        deadline = time.monotonic() + timeout_s
        async with self._admission.slot(deadline):
            return await self._turns.run(session_id, text, timeout_s, deadline)

    async def forget_turn(self, session_id: str, marker: str) -> None:
        """Take a turn that never finished out of its session: one a stop or a kill of the
        whole service cut off. Its items come again in the next turn, which would otherwise
        show the model the same question twice."""
        client = await self._life.connected(time.monotonic() + 30.0)
        await self._turns.forget(client, session_id, marker)
