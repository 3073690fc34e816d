"""Repeated tool calls: once within a reply, and a turn that keeps failing is stopped.

A small model may write one call many times in one reply (seen: a 0.5B model,
the same `cancel_job` until its output limit): the model path keeps each
(tool, arguments) of a reply once (`distinct`). Running it twice at once is
never what was meant, and opencode would ask a person before the third.

A model that gets an error back may also send the very same call again, and
again, one call per step (seen: a 0.5B model four times in one turn, minutes
each on CPU). So the model path checks each reply: a call that repeats, with the
same arguments, a call of this turn that already failed `ATTEMPTS_BEFORE_STOP`
times in a row with the same error is not run; the reply becomes a short note
instead, and the turn ends there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C")

ATTEMPTS_BEFORE_STOP = 2
STOPPED = "Turn stopped by the service:"
# How tool errors reach the model: an MCP error result, or opencode's own refusals.
_FAILURES = ("Error", "The arguments provided to the tool are invalid", "Model tried to call")


@dataclass(frozen=True)
class Attempt:
    name: str
    arguments: str | None  # canonical JSON; None: unknown (opencode could not route the call)
    result: str | None


def canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return arguments


def failed(result: str | None) -> bool:
    return result is not None and result.lstrip().startswith(_FAILURES)


def turn_attempts(messages: list[dict[str, Any]]) -> list[Attempt]:
    """The tool calls since the turn's last user message, with the result each got."""
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    turn = messages[start + 1 :]
    results = {
        str(m.get("tool_call_id")): _text(m.get("content")) for m in turn if m.get("role") == "tool"
    }
    attempts = []
    for message in turn:
        for tc in message.get("tool_calls") or [] if message.get("role") == "assistant" else []:
            fn = tc.get("function") or {}
            name, arguments = str(fn.get("name", "")), str(fn.get("arguments", ""))
            result = results.get(str(tc.get("id")))
            if name == "invalid":
                # opencode's stand-in for a call to an unknown tool or with arguments its
                # schema refused: {"tool": <the name the model gave>, "error": …}.
                attempts.append(Attempt(_invalid_tool(arguments), None, result))
            else:
                attempts.append(Attempt(name, canonical(arguments), result))
    return attempts


def _invalid_tool(arguments: str) -> str:
    try:
        return str(json.loads(arguments).get("tool", "invalid"))
    except (ValueError, AttributeError):
        return "invalid"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return json.dumps(content)


def distinct(calls: list[C], key: Callable[[C], tuple[str, str]]) -> list[C]:
    """`calls` with each (name, arguments) once, in the order first written; `key` gives a
    call's name and arguments (JSON text, compared as canonical JSON)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for call in calls:
        name, arguments = key(call)
        written = (name, canonical(arguments))
        if written not in seen:
            seen.add(written)
            kept.append(call)
    return kept


def repeated_failure(attempts: list[Attempt], name: str, arguments: str) -> Attempt | None:
    """The failed attempt this call would repeat for the third time, or None."""
    recent = attempts[-ATTEMPTS_BEFORE_STOP:]
    if len(recent) < ATTEMPTS_BEFORE_STOP:
        return None
    wanted = canonical(arguments)
    for a in recent:
        same = a.name == name and a.arguments in (None, wanted)
        if not (same and failed(a.result)):
            return None
    if len({a.result for a in recent}) != 1:
        return None  # the error changed: something else is going on
    return recent[-1]


def stop_note(attempt: Attempt) -> str:
    error = " ".join((attempt.result or "").split())
    if len(error) > 240:
        error = error[:240] + "…"
    return (
        f"{STOPPED} `{attempt.name}` was called {ATTEMPTS_BEFORE_STOP + 1} times with the "
        f"same arguments and failed each time ({error})"
    )


def is_stop_note(text: str) -> bool:
    return text.lstrip().startswith(STOPPED)
