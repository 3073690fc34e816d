"""After a turn: every tool call the model made goes into the ledger's audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.engine.steps.base import TurnContext, TurnStep
from core.ledger import Ledger

OUTPUT_LIMIT = 2000


class ToolAudit(TurnStep):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def after(self, turn: TurnContext) -> None:
        calls = turn.result.tool_calls if turn.result is not None else ()
        for call in calls:
            await asyncio.to_thread(
                self.ledger.audit,
                conversation=turn.conversation,
                turn_id=turn.turn_id,
                actor="agent",
                action="tool_call",
                detail={
                    "tool": call.tool,
                    "input": call.input,
                    "status": call.status,
                    "output": _short(call.output),
                },
            )


def _short(output: Any, limit: int = OUTPUT_LIMIT) -> Any:
    text = output if isinstance(output, str) else repr(output)
    return text if len(text) <= limit else text[:limit] + "…"
