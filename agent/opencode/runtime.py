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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from agent import metrics
from agent.opencode import warmup
from agent.opencode.client import ModelRef, OpencodeClient, TurnResult
from agent.opencode.config import AGENT_NAME, PROVIDER_ID, McpServerSpec, build_config
from agent.opencode.errors import (
    OpencodeError,
    OpencodeRestarted,
    OpencodeUnavailable,
    TurnTimeout,
)
from agent.opencode.liveness import missing_skills, rss_bytes, skill_commands
from agent.opencode.process import STARTUP_TIMEOUT_S, OpencodeProcess
from agent.opencode.warmup import WarmupEndpoint

if TYPE_CHECKING:
    from agent.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BINARY = Path(__file__).resolve().parents[2] / ".tools/opencode/node_modules/.bin/opencode"
# How long a broken turn connection waits for the watcher to see the process gone.
_DEATH_GRACE_S = 5.0
_RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# The first `GET /mcp` starts every skill and waits for each up to its own start timeout.
_SKILLS_START_S = 90.0
_WARMUP_S = 60.0
_MIB = 1024 * 1024


PromptHook = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


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
        self.model = model
        # Called with the warm-up's first request after every start: the system prompt and
        # tools every turn will send (the embedded model reads them ahead of the first turn).
        self.on_prompt = on_prompt
        self._prefill: asyncio.Task[None] | None = None
        self.agent = agent
        self.model_base_url = model_base_url.rstrip("/")
        self._model_api_key = model_api_key
        self._process = OpencodeProcess(
            binary=binary, state_dir=state_dir, config=config, startup_timeout_s=startup_timeout_s
        )
        self._client: OpencodeClient | None = None
        self._up = asyncio.Event()
        self._exited: asyncio.Event = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0
        self.max_rss_mb = max_rss_mb
        self.prompt = prompt
        self._skills = skill_commands(config)
        self._config = config
        self._warmup: WarmupEndpoint | None = None
        self._upkeep = asyncio.Lock()  # one between-turns check at a time
        self._admit = asyncio.Event()  # cleared while a restart waits for turns to finish
        self._admit.set()
        self._drained = asyncio.Event()  # set while no turn is in flight
        self._drained.set()
        self._in_flight = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        prompt_file: Path,
        mcp_servers: list[McpServerSpec],
        prompt: PromptSource | None = None,
        model_url: str,
        model_id: str,
        on_prompt: PromptHook | None = None,
    ) -> OpencodeRuntime:
        """`model_url`, `model_id`: the endpoint opencode talks to (the service's model path)
        and the model it asks for there."""
        config = build_config(
            base_url=model_url,
            model_id=model_id,
            api_key=settings.model_api_key,
            context=settings.resolved_model_context,
            max_output=settings.resolved_model_max_output,
            prompt_file=prompt_file,
            mcp_servers=mcp_servers,
            temperature=settings.model_temperature,
            # A request never outlives its turn; the turn's own timeout fires first.
            request_timeout_s=settings.resolved_turn_timeout_s + 30.0,
        )
        return cls(
            binary=settings.opencode_bin or DEFAULT_BINARY,
            state_dir=settings.state_dir,
            config=config,
            model=ModelRef(PROVIDER_ID, model_id),
            model_base_url=model_url,
            model_api_key=settings.model_api_key,
            max_rss_mb=settings.opencode_max_rss_mb,
            prompt=prompt,
            on_prompt=on_prompt,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start opencode; raises OpencodeStartError if it does not come up."""
        self._stopping = False
        if self._warmup is None:
            self._warmup = WarmupEndpoint()
            url = await self._warmup.start()
            # Only in the config this runtime writes: the agent's turns always name the model.
            self._config["provider"][warmup.PROVIDER_ID] = warmup.provider_config(url)
            self._config["enabled_providers"].append(warmup.PROVIDER_ID)
        await self._launch()
        self._watcher = asyncio.create_task(self._watch(), name="opencode-watcher")

    async def _launch(self) -> None:
        url = await self._process.start()
        if self._client is not None:
            await self._client.aclose()
        self._client = OpencodeClient(url, self._process.password)
        self._exited = asyncio.Event()
        await self._start_skills(self._client)
        await self._warm_up(self._client)
        self._up.set()

    async def _start_skills(self, client: OpencodeClient) -> None:
        """Start every skill now, not lazily inside the first turn, and check each one."""
        began = time.monotonic()
        try:
            status = await client.mcp_status(timeout=_SKILLS_START_S)
        except OpencodeError as exc:
            log.error("could not start the skills: %s", exc)
            return
        for name, why in missing_skills(status, self._skills, self.pid).items():
            if not await self._reconnect(client, name, why):
                log.error("skill %s did not start: %s", name, why)
        log.info("skills up in %.1f s: %s", time.monotonic() - began, ", ".join(self._skills))

    async def _warm_up(self, client: OpencodeClient) -> None:
        """One turn against the canned local endpoint (`warmup`), its session deleted after."""
        began = time.monotonic()
        try:
            session = await client.create_session("warm-up")
            canned = ModelRef(warmup.PROVIDER_ID, warmup.MODEL_ID)
            await asyncio.wait_for(
                client.prompt(session, "warm-up", agent=self.agent, model=canned), _WARMUP_S
            )
            await client.delete_session(session)
        except (OpencodeError, TimeoutError) as exc:
            log.warning("opencode warm-up turn failed (the first real turn pays it): %r", exc)
            return
        log.info("opencode warmed up in %.1f s", time.monotonic() - began)
        assert self._warmup is not None
        body, self._warmup.first_request = self._warmup.first_request, None
        if self.on_prompt is not None and body is not None:
            if self._prefill is not None:
                self._prefill.cancel()
            self._prefill = asyncio.create_task(self.on_prompt(body), name="model-prefill")

    async def _watch(self) -> None:
        while True:
            code = await self._process.wait()
            self._up.clear()
            self._exited.set()
            if self._stopping:
                return
            log.error("opencode exited with %s; restarting\n%s", code, self._process.output_tail())
            # Reap what the dead process left in its group (its MCP servers).
            await self._process.stop()
            await self._relaunch("exited")

    async def _relaunch(self, reason: str) -> None:
        """Start opencode again, retrying with backoff until it is up (or we stop)."""
        failures = 0
        while not self._stopping:
            try:
                await self._launch()
            except OpencodeError as exc:
                delay = _RESTART_BACKOFF_S[min(failures, len(_RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.error("opencode restart failed (%s); next try in %s s", exc, delay)
                await asyncio.sleep(delay)
                continue
            self.restarts += 1
            metrics.OPENCODE_RESTARTS.labels(reason=reason).inc()
            return

    async def stop(self) -> None:
        self._stopping = True
        self._up.clear()
        if self._prefill is not None:
            self._prefill.cancel()
            await asyncio.gather(self._prefill, return_exceptions=True)
            self._prefill = None
        await self._stop_watcher()
        await self._process.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._warmup is not None:
            await self._warmup.stop()
            self._warmup = None
            del self._config["provider"][warmup.PROVIDER_ID]
            self._config["enabled_providers"].remove(warmup.PROVIDER_ID)

    async def _stop_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    # -- between turns -----------------------------------------------------------

    async def before_turn(self) -> list[str]:
        """Upkeep at a turn's start; returns notes for the turn (a skill still missing).

        Restarts opencode when it has grown past `max_rss_mb` or the brief changed,
        after the turns in flight have finished (later ones wait); then restarts
        any skill that is not connected with a live process."""
        async with self._upkeep:
            if not self._up.is_set():
                return []  # (re)starting now: the turn waits for it and its skills
            reason = await self._restart_reason()
            if reason is not None:
                await self._restart_between_turns(*reason)
            return await self._check_skills()

    async def _restart_reason(self) -> tuple[str, str] | None:
        rss = rss_bytes(self.pid)
        if rss is not None:
            metrics.OPENCODE_RSS.set(rss)
        if self.prompt is not None and await self.prompt.refresh():
            return "brief", "the brief changed"
        if rss is not None and self.max_rss_mb and rss > self.max_rss_mb * _MIB:
            return "memory", f"RSS {rss / _MIB:.0f} MiB over the {self.max_rss_mb:.0f} MiB limit"
        return None

    async def _restart_between_turns(self, reason: str, detail: str) -> None:
        self._admit.clear()
        try:
            await self._drained.wait()
            log.warning("restarting opencode between turns: %s", detail)
            self._up.clear()
            await self._stop_watcher()
            await self._process.stop()
            await self._relaunch(reason)
            self._watcher = asyncio.create_task(self._watch(), name="opencode-watcher")
        finally:
            self._admit.set()

    async def _check_skills(self) -> list[str]:
        client = self._client
        assert client is not None
        try:
            status = await client.mcp_status()
        except OpencodeError as exc:
            log.warning("could not read the skills' status: %s", exc)
            return []  # opencode itself is in trouble: the turn meets that on its own
        notes = []
        for name, why in missing_skills(status, self._skills, self.pid).items():
            log.warning("skill %s is not connected (%s); restarting it before the turn", name, why)
            if not await self._reconnect(client, name, why):
                notes.append(f"skill {name} is unavailable ({why}); its tools are not in this turn")
        return notes

    async def _reconnect(self, client: OpencodeClient, name: str, why: str) -> bool:
        """Restart one skill; True when it is connected with a live process afterwards."""
        try:
            await client.mcp_connect(name)
            status = await client.mcp_status()
        except OpencodeError as exc:
            log.error("restarting skill %s failed: %s", name, exc)
            ok = False
        else:
            ok = name not in missing_skills(status, {name: self._skills[name]}, self.pid)
        metrics.SKILL_RECONNECTS.labels(skill=name, outcome="ok" if ok else "failed").inc()
        return ok

    @contextlib.asynccontextmanager
    async def _turn_slot(self, deadline: float) -> AsyncIterator[None]:
        """Count a call as in flight; wait first while a between-turns restart is pending."""
        try:
            await asyncio.wait_for(self._admit.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise OpencodeUnavailable("opencode is restarting between turns") from None
        self._in_flight += 1
        self._drained.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._drained.set()

    # -- health ----------------------------------------------------------------

    async def ready(self) -> bool:
        """opencode is running, answers its health check, and every skill is connected."""
        client = self._client
        if not (self._up.is_set() and client is not None and await client.health()):
            return False
        try:
            status = await client.mcp_status(timeout=2.0)
        except OpencodeError:
            return False
        return not missing_skills(status, self._skills, self.pid)

    async def model_reachable(self) -> bool:
        """The model endpoint answers `GET {base_url}/models` within 2 s."""
        headers = {"Authorization": f"Bearer {self._model_api_key}"}
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                response = await http.get(f"{self.model_base_url}/models", headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _connected(self, deadline: float) -> OpencodeClient:
        """The client of a running opencode, waiting for a restart until `deadline`."""
        try:
            await asyncio.wait_for(self._up.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise OpencodeUnavailable("opencode is not running (restarting?)") from None
        assert self._client is not None
        return self._client

    # -- sessions and turns ----------------------------------------------------

    async def ensure_session(self, title: str, session_id: str | None = None) -> str:
        """`session_id` if opencode still has it, else a new session titled `title`."""
        deadline = time.monotonic() + 30.0
        async with self._turn_slot(deadline):
            client = await self._connected(deadline)
            if session_id is not None and await client.session_exists(session_id):
                return session_id
            return await client.create_session(title)

    async def run_turn(self, session_id: str, text: str, timeout_s: float) -> TurnResult:
        """Send `text` to the session and return the turn's result.

        Raises TurnTimeout (after aborting the turn) when it runs past
        `timeout_s`, and OpencodeRestarted when opencode died during the turn:
        it has been restarted by then, and the caller should send the turn again.
        """
        deadline = time.monotonic() + timeout_s
        async with self._turn_slot(deadline):
            return await self._run_turn(session_id, text, timeout_s, deadline)

    async def _run_turn(
        self, session_id: str, text: str, timeout_s: float, deadline: float
    ) -> TurnResult:
        client = await self._connected(deadline)
        exited = self._exited
        turn = asyncio.create_task(
            client.prompt(session_id, text, agent=self.agent, model=self.model)
        )
        died = asyncio.create_task(exited.wait())
        try:
            done, _ = await asyncio.wait(
                {turn, died},
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if turn in done:
                try:
                    return turn.result()
                except OpencodeUnavailable:
                    # The connection broke: if that was opencode dying, say so.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(exited.wait(), _DEATH_GRACE_S)
                    if not exited.is_set():
                        raise
            if died in done or exited.is_set():
                # Give the restart its time even when the turn's own time is up.
                restarted = await self._connected(deadline + 60.0)
                await self._forget(restarted, session_id, text)
                raise OpencodeRestarted(f"opencode died during a turn of {session_id}; retry it")
            await self._abort(client, session_id)
            raise TurnTimeout(f"turn in {session_id} ran past {timeout_s} s and was aborted")
        finally:
            for task in (turn, died):
                task.cancel()
            await asyncio.gather(turn, died, return_exceptions=True)

    async def forget_turn(self, session_id: str, marker: str) -> None:
        """Take a turn that never finished out of its session: one a stop or a kill of the
        whole service cut off. Its items come again in the next turn, which would otherwise
        show the model the same question twice."""
        await self._forget(await self._connected(time.monotonic() + 30.0), session_id, marker)

    async def _forget(self, client: OpencodeClient, session_id: str, text: str) -> None:
        try:
            await client.forget_interrupted_turn(session_id, text)
        except OpencodeError as exc:
            log.warning("could not remove the interrupted turn in %s: %s", session_id, exc)

    async def _abort(self, client: OpencodeClient, session_id: str) -> None:
        try:
            await client.abort(session_id)
        except OpencodeError as exc:
            log.warning("could not abort the timed-out turn in %s: %s", session_id, exc)
