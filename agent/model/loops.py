"""A turn that asks for the same failing tool call again and again is stopped.

A small model that gets an error back may send the very same call again, and
again (seen: a 0.5B model four times in one turn, minutes each on CPU).
opencode's own "doom loop" check looks only inside one model step, and these
come one call per step. So the model path checks each reply: a call that
repeats, with the same arguments, a call of this turn that already failed
`ATTEMPTS_BEFORE_STOP` times in a row with the same error is not run; the reply
becomes a short note instead, and the turn ends there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
