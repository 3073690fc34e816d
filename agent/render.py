"""Render a turn's input for the model: a compact header, then each item.

The model pays for every token, so events are rendered as `key=value` lines,
not pretty JSON; multi-line strings (tracebacks) keep their lines.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agent.inbox import Item

MAX_BLOCK_CHARS = 6000  # a traceback's tail is what matters


def turn_marker(turn_id: str) -> str:
    """How a turn's text starts: what finds that turn's message in its opencode session."""
    return f"[turn_id={turn_id} "


def render_turn(turn_id: str, conversation: str, items: list[Item], notes: list[str]) -> str:
    kinds = sorted({i.kind for i in items})
    head = (
        f"{turn_marker(turn_id)}conversation={conversation} items={len(items)} ({','.join(kinds)})]"
    )
    parts = [head]
    parts += [f"[supervisor] {note}" for note in notes]
    parts += [render_item(item) for item in items]
    return "\n\n".join(parts)


def person(user: str) -> str:
    """A person as the model sees them: a Slack id as Slack's mention (`<@U123>`), a Matrix id
    (`@ann:example.org`) as itself — readable, and what the Matrix bridge makes a pill of."""
    return user if user.startswith("@") else f"<@{user}>"


def render_item(item: Item) -> str:
    p = item.payload
    when = _clock(item.received)
    if item.kind == "event":
        return render_event(p, when)
    if item.kind == "chat":
        return f"message {when} from {person(p['user'])}:\n{p['text']}"
    if item.kind == "click":
        return f"button {p['action']} {when} by {person(p['user'])} on proposal {p['proposal']}"
    return f"{item.kind} {when}: {p.get('text', '')}".rstrip()


def render_event(event: dict[str, Any], when: str) -> str:
    head = f"event {event['type']} {when} job={event['job']}"
    scalars: list[str] = []
    blocks: list[str] = []
    for key, value in event.items():
        if key in ("type", "job", "ts"):
            continue
        if isinstance(value, str) and "\n" in value:
            text = value if len(value) <= MAX_BLOCK_CHARS else "…" + value[-MAX_BLOCK_CHARS:]
            blocks.append(f"{key}:\n" + "\n".join("  " + line for line in text.splitlines()))
        elif isinstance(value, dict):
            inner = " ".join(f"{k}={_scalar(v)}" for k, v in value.items())
            scalars.append(f"{key}: {inner}" if inner else f"{key}: {{}}")
        elif value is not None:
            scalars.append(f"{key}={_scalar(value)}")
    lines = [head]
    if scalars:
        lines.append(" ".join(s for s in scalars if ":" not in s.split("=")[0]))
        lines += [s for s in scalars if ":" in s.split("=")[0]]
    lines += blocks
    return "\n".join(line for line in lines if line)


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(ts))
