"""One turn in a session: sent to opencode, and told apart when it does not come back —
opencode died under it (`OpencodeRestarted`, once the new process is up) or it ran out
of time (`TurnTimeout`, after aborting it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from agent.opencode.client import ModelRef, OpencodeClient, TurnResult
from agent.opencode.errors import OpencodeError, OpencodeRestarted, OpencodeUnavailable, TurnTimeout
from agent.opencode.lifecycle import OpencodeLifecycle

# The runtime's logger: its log lines read as they did before it was split into parts.
log = logging.getLogger("agent.opencode.runtime")

# How long a broken turn connection waits for the watcher to see the process gone.
_DEATH_GRACE_S = 5.0


class TurnRunner:
    def __init__(self, lifecycle: OpencodeLifecycle, *, agent: str, model: ModelRef) -> None:
        self._lifecycle = lifecycle
        self.agent = agent
        self.model = model

    async def ensure_session(self, title: str, session_id: str | None, deadline: float) -> str:
        client = await self._lifecycle.connected(deadline)
        if session_id is not None and await client.session_exists(session_id):
            return session_id
        return await client.create_session(title)

    async def run(
        self, session_id: str, text: str, timeout_s: float, deadline: float
    ) -> TurnResult:
        client = await self._lifecycle.connected(deadline)
        exited = self._lifecycle.exited  # the event of the process this turn talks to
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
                restarted = await self._lifecycle.connected(deadline + 60.0)
                await self.forget(restarted, session_id, text)
                raise OpencodeRestarted(f"opencode died during a turn of {session_id}; retry it")
            await self._abort(client, session_id)
            raise TurnTimeout(f"turn in {session_id} ran past {timeout_s} s and was aborted")
        finally:
            for task in (turn, died):
                task.cancel()
            await asyncio.gather(turn, died, return_exceptions=True)

    async def forget(self, client: OpencodeClient, session_id: str, text: str) -> None:
        try:
            await client.forget_interrupted_turn(session_id, text)
        except OpencodeError as exc:
            log.warning("could not remove the interrupted turn in %s: %s", session_id, exc)

    async def _abort(self, client: OpencodeClient, session_id: str) -> None:
        try:
            await client.abort(session_id)
        except OpencodeError as exc:
            log.warning("could not abort the timed-out turn in %s: %s", session_id, exc)
