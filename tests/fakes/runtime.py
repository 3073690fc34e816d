"""A scripted stand-in for the opencode runtime (`agent.engine.turns.Runtime`), for engine tests.

The engine's end-to-end behaviour is tested with the real opencode binary; this
fake answers turns in-process so the engine's mechanics (serial conversations,
coalescing, the cap, pauses, retries) can be tested in milliseconds. Each turn
takes the next scripted `Answer`, or `default`; an answer can hold the turn
until its event is set, end in a model error, or raise what the real runtime
raises (`OpencodeRestarted`, `TurnTimeout`).

    runtime.push(Answer.raising(OpencodeRestarted), Answer.reply("Crashed: OOM"))
    runtime.default = Answer.reply("ok", hold=release)  # every turn waits for release.set()
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import re
from dataclasses import dataclass

from agent.opencode.client import ToolCallRecord, TurnError, TurnResult

_CONVERSATION = re.compile(r"conversation=(\S+)")


@dataclass(frozen=True)
class Answer:
    text: str = "ok"
    tool_calls: tuple[ToolCallRecord, ...] = ()
    error: TurnError | None = None
    raises: type[Exception] | None = None
    hold: asyncio.Event | None = None  # the turn waits for it before answering

    @classmethod
    def reply(
        cls, text: str, *tool_calls: ToolCallRecord, hold: asyncio.Event | None = None
    ) -> Answer:
        return cls(text=text, tool_calls=tool_calls, hold=hold)

    @classmethod
    def model_error(cls, message: str) -> Answer:
        return cls(text="", error=TurnError("APIError", message))

    @classmethod
    def raising(cls, exc: type[Exception], hold: asyncio.Event | None = None) -> Answer:
        return cls(raises=exc, hold=hold)


@dataclass(frozen=True)
class Sent:
    """One turn as the engine sent it."""

    session_id: str
    conversation: str
    text: str


class FakeRuntime:
    def __init__(self) -> None:
        self.script: collections.deque[Answer] = collections.deque()
        self.default = Answer.reply("ok")
        self.reachable = True
        self.upkeep_notes: list[str] = []  # what the next `before_turn` reports, then cleared
        self.sent: list[Sent] = []
        self.forgotten: list[tuple[str, str]] = []  # (session id, turn marker) taken out
        self.running: collections.Counter[str] = collections.Counter()  # conversation → turns
        self.peak_total = 0
        self.peak_per_conversation = 0
        self._ids = itertools.count(1)

    def push(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def before_turn(self) -> list[str]:
        notes, self.upkeep_notes = self.upkeep_notes, []
        return notes

    async def ensure_session(self, title: str) -> str:
        return f"ses_{next(self._ids)}_{title}"

    async def forget_turn(self, session_id: str, marker: str) -> None:
        self.forgotten.append((session_id, marker))

    async def model_reachable(self) -> bool:
        return self.reachable

    async def run_turn(self, session_id: str, text: str, timeout_s: float) -> TurnResult:
        match = _CONVERSATION.search(text)
        conversation = match.group(1) if match else "?"
        self.sent.append(Sent(session_id, conversation, text))
        answer = self.script.popleft() if self.script else self.default
        self.running[conversation] += 1
        self.peak_total = max(self.peak_total, self.running.total())
        self.peak_per_conversation = max(self.peak_per_conversation, self.running[conversation])
        try:
            if answer.hold is not None:
                await answer.hold.wait()
            else:
                await asyncio.sleep(0)  # a real turn awaits opencode: let others run
            if answer.raises is not None:
                raise answer.raises(f"scripted {answer.raises.__name__} in {session_id}")
            return TurnResult(
                session_id=session_id,
                message_id=f"msg_{len(self.sent)}",
                text=answer.text,
                tool_calls=answer.tool_calls,
                error=answer.error,
                finish=None if answer.error else "stop",
                tokens_input=len(text) // 4,
                tokens_output=len(answer.text) // 4,
            )
        finally:
            self.running[conversation] -= 1
