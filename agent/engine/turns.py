"""The turn engine: inbox items in, one opencode turn per conversation at a time, replies out.

Mechanics only. At most one turn per conversation runs; whatever arrives
meanwhile waits in the inbox and is delivered, in arrival order, as the next
turn. A global semaphore caps concurrent turns. The model decides what to say;
this module decides nothing but where a reply goes.

The route of one turn (`_handle`): the turn log opens it → each step's
`before` → the model's turn in opencode → the reply is posted, or silence →
each step's `after` → the turn log closes it → its items are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from agent import metrics
from agent.engine.brief import is_silent
from agent.engine.conversations import Conversations
from agent.engine.inbox import Inbox, Item
from agent.engine.outbox import Outbox
from agent.engine.render import render_turn, turn_marker
from agent.engine.steps.base import TurnContext, TurnStep
from agent.engine.turn_log import Outcome, TurnLog
from agent.model.artefacts import postable
from agent.model.loops import is_stop_note
from agent.opencode.client import TurnResult
from agent.opencode.errors import OpencodeRestarted, TurnTimeout

log = logging.getLogger(__name__)

MAX_RESTART_RETRIES = 3
MAX_POST_RETRY_INTERVAL_S = 300.0
DETAIL_CHARS = 300


class Runtime(Protocol):
    async def before_turn(self) -> list[str]: ...
    async def ensure_session(self, title: str) -> str: ...
    async def run_turn(self, session_id: str, text: str, timeout_s: float) -> TurnResult: ...
    async def forget_turn(self, session_id: str, marker: str) -> None: ...
    async def model_reachable(self) -> bool: ...


class TurnEngine:
    def __init__(
        self,
        *,
        inbox: Inbox,
        conversations: Conversations,
        runtime: Runtime,
        outbox: Outbox,
        turn_log: TurnLog,
        steps: Sequence[TurnStep] = (),
        silence_marker: str,
        max_concurrent: int,
        turn_timeout_s: float,
        retry_after_error_s: float = 30.0,
    ) -> None:
        self.inbox = inbox
        self.conversations = conversations
        self.runtime = runtime
        self.outbox = outbox
        self.turn_log = turn_log
        self.steps = list(steps)
        self.silence_marker = silence_marker
        self.turn_timeout_s = turn_timeout_s
        self.retry_after_error_s = retry_after_error_s
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._busy: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.paused = False  # set while the model endpoint is down: events wait

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            await self.recover()
        except Exception:  # its items are queued again either way; the turns come first
            log.exception("could not close the turns the last stop cut short")
        self.wake()  # what waits at start (cut-short turns' items, events meanwhile) goes now
        while True:
            # Not asyncio.wait_for: on 3.11 it swallows a cancel that arrives as the wake
            # does (the last turn ending as the service stops), and the loop never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._start_turns()
            except Exception:
                # The engine is the one thing that turns the inbox: one failed look at it
                # (a database error) must not leave every later item waiting for good.
                log.exception("could not look for waiting items; looking again")

    async def _start_turns(self) -> None:
        metrics.INBOX_DEPTH.set(await self.inbox.depth())
        if self.paused:
            return
        for conversation in await self.inbox.ready_conversations(exclude=self._busy):
            if len(self._busy) >= self._max_concurrent:
                break
            self._busy.add(conversation)
            task = asyncio.create_task(self._serve(conversation), name=f"turn {conversation}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def recover(self) -> None:
        """Close the turns a stop or a kill cut short, each taken out of its session first.

        Their items are back in the inbox (`Inbox.start`) and come again in the next turn of
        their conversation; left in the session, the cut-off turn would show the model the
        same items twice, in that turn and every later one."""
        for turn_id, conversation in await self.turn_log.cut_short():
            session_id = (await self.conversations.get(conversation)).session_id
            if session_id is not None:
                try:
                    await self.runtime.forget_turn(session_id, turn_marker(turn_id))
                except Exception:
                    log.exception(
                        "could not take the cut-short turn %s out of its session", turn_id
                    )
            await self.turn_log.close_cut_short(turn_id, conversation)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> bool:
        return not self._busy and await self.inbox.depth() == 0

    async def _serve(self, conversation: str) -> None:
        try:
            async with self._slots:
                await self._turn(conversation)
        except Exception:
            log.exception("turn for %s failed", conversation)
        finally:
            self._busy.discard(conversation)
            self.wake()

    async def _turn(self, conversation: str) -> None:
        items = await self.inbox.lease(conversation)
        if not items:
            return
        try:
            await self._handle(conversation, items)
        except Exception:
            log.exception("turn for %s failed; its items go back to the inbox", conversation)
            # Nothing accepted is dropped; the pause (the conversation stays busy) keeps
            # a persistent failure, such as chat being down, from spinning the model.
            await asyncio.sleep(self.retry_after_error_s)
            await self.inbox.release(items)

    async def _handle(self, conversation: str, items: list[Item]) -> None:
        """The route of one turn, start to end (the module docstring draws it)."""
        turn = await self.turn_log.open(conversation, items)
        try:
            # Between turns: memory/brief restarts of opencode, dead skills restarted.
            turn.notes += await self.runtime.before_turn()
            for step in self.steps:
                await step.before(turn)
            reason, detail = await self._ask_model(turn)
            if reason == "model_error" and not await self.runtime.model_reachable():
                # The endpoint is down: the items wait in the inbox for it to come back.
                self.paused = True
                await self.inbox.release(items)
                await self.turn_log.close(turn, "failed", "model_unreachable", detail)
                return
            if reason == "ok":
                outcome, reason, detail = await self._reply(turn)
            else:
                outcome = "failed"
            for step in self.steps:
                await step.after(turn)
        except Exception as exc:
            await self.turn_log.close(turn, "failed", "error", repr(exc))
            raise
        await self.turn_log.close(turn, outcome, reason, detail)
        await self.inbox.done(items, turn.turn_id)

    async def _ask_model(self, turn: TurnContext) -> tuple[str, str | None]:
        """Run the turn in opencode; (reason, detail): "ok", "timeout" or "model_error"."""
        text = render_turn(turn.turn_id, turn.conversation, turn.items, turn.notes)
        turn.input = text
        try:
            turn.result = await self._run_with_restarts(turn.conversation, text)
        except (TurnTimeout, TimeoutError):
            return "timeout", None
        if turn.result.error:
            metrics.MODEL_ERRORS.inc()
            return "model_error", str(turn.result.error)
        return "ok", None

    async def _reply(self, turn: TurnContext) -> tuple[Outcome, str, str | None]:
        """Post the reply, or nothing; (outcome, reason, detail) for the turn log."""
        assert turn.result is not None
        said = turn.result.text
        if is_stop_note(said):
            # The model path ended a loop of failing calls: the people see why it stopped.
            await self._post(turn.conversation, said)
            return "posted", "repeated_call", said
        if is_silent(said, self.silence_marker):
            return "silent", "ok", None
        text = postable(said, turn.input)
        if not text or is_silent(text, self.silence_marker):
            # Only the protocol (its turn header, tool-call text) or its input read back.
            return "silent", "protocol_only", said[:DETAIL_CHARS]
        await self._post(turn.conversation, text)
        return "posted", "ok", None

    async def _post(self, conversation: str, text: str) -> None:
        """Post a reply the model has given until chat takes it: a turn is never run again
        (and the model paid again) for a reply it already produced. The Slack client has
        already waited out rate limits and retried dropped connections by then."""
        delay = self.retry_after_error_s
        while True:
            try:
                await self.outbox.reply(conversation, text)
                return
            except Exception as exc:
                metrics.REPLY_POST_RETRIES.inc()
                log.warning("reply to %s not posted (%r); again in %.1fs", conversation, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_POST_RETRY_INTERVAL_S)

    async def _run_with_restarts(self, conversation: str, text: str) -> TurnResult:
        for attempt in range(MAX_RESTART_RETRIES + 1):
            session_id = await self._session(conversation)
            try:
                return await self.runtime.run_turn(session_id, text, self.turn_timeout_s)
            except OpencodeRestarted:
                log.warning("opencode restarted during a turn of %s; retrying", conversation)
                if attempt == MAX_RESTART_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _session(self, conversation: str) -> str:
        conv = await self.conversations.get(conversation)
        if conv.session_id:
            return conv.session_id
        session_id = await self.runtime.ensure_session(conversation)
        await self.conversations.set_session(conversation, session_id)
        return session_id
