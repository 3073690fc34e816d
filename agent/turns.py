"""The turn engine: inbox items in, one opencode turn per conversation at a time, replies out.

Mechanics only. At most one turn per conversation runs; whatever arrives
meanwhile waits in the inbox and is delivered, in arrival order, as the next
turn. A global semaphore caps concurrent turns. The model decides what to say;
this module decides nothing but where a reply goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from agent import metrics
from agent.brief import is_silent
from agent.conversations import Conversations
from agent.db import Database
from agent.inbox import Inbox, Item
from agent.opencode.client import TurnResult
from agent.opencode.errors import OpencodeRestarted, TurnTimeout
from agent.outbox import Outbox
from agent.render import render_turn

log = logging.getLogger(__name__)

MAX_RESTART_RETRIES = 3


class Runtime(Protocol):
    async def before_turn(self) -> list[str]: ...
    async def ensure_session(self, title: str) -> str: ...
    async def run_turn(self, session_id: str, text: str, timeout_s: float) -> TurnResult: ...
    async def model_reachable(self) -> bool: ...


@dataclass
class TurnContext:
    """What a turn hands to the hooks around it (gate, cards, audit)."""

    turn_id: str
    seq: int
    conversation: str
    items: list[Item]
    notes: list[str] = field(default_factory=list)
    result: TurnResult | None = None


Hook = Callable[[TurnContext], Awaitable[None]]


class TurnEngine:
    def __init__(
        self,
        *,
        db: Database,
        inbox: Inbox,
        conversations: Conversations,
        runtime: Runtime,
        outbox: Outbox,
        record_turn: Callable[[str, str, str], Awaitable[tuple[str, int]]],
        silence_marker: str,
        max_concurrent: int,
        turn_timeout_s: float,
        before_turn: list[Hook] | None = None,
        after_turn: list[Hook] | None = None,
        retry_after_error_s: float = 30.0,
    ) -> None:
        self.db = db
        self.inbox = inbox
        self.conversations = conversations
        self.runtime = runtime
        self.outbox = outbox
        self.record_turn = record_turn
        self.silence_marker = silence_marker
        self.turn_timeout_s = turn_timeout_s
        self.before_turn = before_turn or []
        self.after_turn = after_turn or []
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
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            metrics.INBOX_DEPTH.set(await self.inbox.depth())
            if self.paused:
                continue
            for conversation in await self.inbox.ready_conversations(exclude=self._busy):
                if len(self._busy) >= self._max_concurrent:
                    break
                self._busy.add(conversation)
                task = asyncio.create_task(self._serve(conversation), name=f"turn {conversation}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

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
        started = time.monotonic()
        kinds = {i.kind for i in items}
        # A person's words or click outrank the events that came with them.
        source = next((k for k in ("click", "chat", "event") if k in kinds), "tick")
        senders = sorted({str(i.payload.get("user") or i.payload.get("job")) for i in items})
        turn_id, seq = await self.record_turn(conversation, source, ",".join(senders))
        await self.db.run(_start_turn, turn_id, conversation, seq, source, senders, len(items))
        try:
            await self._run(TurnContext(turn_id, seq, conversation, items), started)
        except Exception as exc:
            await self._finish(turn_id, "failed", "error", repr(exc)[:500], started)
            raise

    async def _run(self, ctx: TurnContext, started: float) -> None:
        conversation, items, turn_id = ctx.conversation, ctx.items, ctx.turn_id
        # Between turns: memory/brief restarts of opencode, dead skills restarted.
        ctx.notes += await self.runtime.before_turn()
        for hook in self.before_turn:
            await hook(ctx)

        text = render_turn(turn_id, conversation, items, ctx.notes)
        outcome, reason, detail = "failed", "ok", None
        try:
            ctx.result = await self._run_with_restarts(conversation, text)
        except TimeoutError:
            reason = "timeout"
        if ctx.result is not None and ctx.result.error:
            reason, detail = "model_error", str(ctx.result.error)[:500]
            metrics.MODEL_ERRORS.inc()
            if not await self.runtime.model_reachable():
                # The endpoint is down: the items wait in the inbox for it to come back.
                self.paused = True
                await self.inbox.release(items)
                await self._finish(turn_id, "failed", "model_unreachable", detail, started)
                return
        elif ctx.result is not None:
            silent = is_silent(ctx.result.text, self.silence_marker)
            outcome = "silent" if silent else "posted"
            if not silent:
                await self.outbox.reply(conversation, ctx.result.text)
        for hook in self.after_turn:
            await hook(ctx)
        await self._finish(turn_id, outcome, reason, detail, started)
        await self.inbox.done(items, turn_id)

    async def _run_with_restarts(self, conversation: str, text: str) -> TurnResult:
        for attempt in range(MAX_RESTART_RETRIES + 1):
            session_id = await self._session(conversation)
            try:
                return await self.runtime.run_turn(session_id, text, self.turn_timeout_s)
            except OpencodeRestarted:
                log.warning("opencode restarted during a turn of %s; retrying", conversation)
                if attempt == MAX_RESTART_RETRIES:
                    raise
            except TurnTimeout as exc:
                raise TimeoutError from exc
        raise AssertionError("unreachable")

    async def _session(self, conversation: str) -> str:
        conv = await self.conversations.get(conversation)
        if conv.session_id:
            return conv.session_id
        session_id = await self.runtime.ensure_session(conversation)
        await self.conversations.set_session(conversation, session_id)
        return session_id

    async def _finish(
        self, turn_id: str, outcome: str, reason: str, detail: str | None, started: float
    ) -> None:
        elapsed = time.monotonic() - started
        metrics.TURNS.labels(outcome=outcome, reason=reason).inc()
        metrics.TURN_LATENCY.observe(elapsed)
        await self.db.run(_end_turn, turn_id, outcome, reason, detail)


def _start_turn(
    conn: sqlite3.Connection,
    turn_id: str,
    conversation: str,
    seq: int,
    source: str,
    senders: list[str],
    n_items: int,
) -> None:
    conn.execute(
        "INSERT INTO turns (turn_id, conversation, seq, source, sender, items, started)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (turn_id, conversation, seq, source, json.dumps(senders), n_items, time.time()),
    )


def _end_turn(
    conn: sqlite3.Connection, turn_id: str, outcome: str, reason: str, detail: str | None
) -> None:
    conn.execute(
        "UPDATE turns SET ended = ?, outcome = ?, reason = ?, detail = ? WHERE turn_id = ?",
        (time.time(), outcome, reason, detail, turn_id),
    )
