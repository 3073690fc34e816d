"""A turn, as the steps around it see it, and the shape of a step.

A step runs code the supervisor owns around the model's turn: `before` may add
`[supervisor]` notes the model reads (an approval turned into a confirmation);
`after` sees the result (tool calls to audit, proposals to show). The engine
runs every step's `before` in order, the turn, then every step's `after`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from agent.engine.inbox import Item
from agent.opencode.client import TurnResult


@dataclass
class TurnContext:
    turn_id: str
    seq: int
    conversation: str
    items: list[Item]
    started: float  # time.monotonic() when the turn was opened
    notes: list[str] = field(default_factory=list)
    input: str = ""  # the turn as the model was sent it
    result: TurnResult | None = None


class TurnStep(Protocol):
    """Subclass and override the side a step acts on; the other stays a no-op."""

    async def before(self, turn: TurnContext) -> None:
        return None

    async def after(self, turn: TurnContext) -> None:
        return None
