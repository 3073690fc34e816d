"""After a turn: files a skill wrote for people (a metric plot) go into the conversation's thread.

A tool names its file in its result as `attachment_path`; only a file inside
the attachments folder is uploaded, so a result can never make the supervisor
send an arbitrary file from this machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.engine.outbox import Outbox
from agent.engine.steps.base import TurnContext, TurnStep


class Attachments(TurnStep):
    def __init__(self, folder: Path, outbox: Outbox) -> None:
        self.folder = folder.resolve()
        self.outbox = outbox

    async def after(self, turn: TurnContext) -> None:
        calls = turn.result.tool_calls if turn.result is not None else ()
        for call in calls:
            path = attachment_path(call.output)
            if path is None:
                continue
            resolved = Path(path).resolve()
            if resolved.is_relative_to(self.folder) and resolved.is_file():
                await self.outbox.upload(turn.conversation, resolved, title=resolved.name)


def attachment_path(output: Any) -> str | None:
    """The `attachment_path` a tool result names, if any (results arrive as JSON text)."""
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            return None
    if isinstance(output, dict):
        value = output.get("attachment_path")
        return value if isinstance(value, str) else None
    return None
