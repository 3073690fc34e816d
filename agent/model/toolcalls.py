"""Tool calls a model wrote as text, read back as calls.

Small models trained on the Hermes/Qwen protocol often write a call where the
endpoint expects it in `tool_calls`: inside `<tool_call>` tags the server did
not parse, as bare JSON, or in a ```json fence. The endpoint then returns it as
plain text and opencode never sees a call. `find_calls` reads such text: every
`{"name": …, "arguments": …}` object (also `parameters`, or OpenAI's
`{"function": {…}}` wrapper) naming a tool the request offered becomes a call.
A name given without its skill prefix (`cancel_job` for `aiqu_cancel_job`) is
taken when exactly one offered tool ends with it. Anything else stays text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
FENCED = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
# Text a model writes after a call it made up the answer to: never a call, never prose.
INVENTED_RESULT = re.compile(r"<tool_response>.*?(?:</tool_response>|$)", re.DOTALL)


@dataclass(frozen=True)
class TextCall:
    name: str
    arguments: str  # JSON text, as `tool_calls[].function.arguments` carries it


@dataclass(frozen=True)
class Found:
    calls: list[TextCall]
    prose: str  # what the model wrote before its first call


def find_calls(text: str, offered: Collection[str]) -> Found | None:
    """The calls written in `text`, or None when it holds none to an offered tool."""
    if not offered or not text.strip():
        return None
    for spans in (_tagged(text), _fenced(text), _bare(text)):
        calls: list[TextCall] = []
        first = None
        for start, value in spans:
            for call in _as_calls(value, offered):
                calls.append(call)
                first = start if first is None else min(first, start)
        if calls:
            assert first is not None
            return Found(calls, INVENTED_RESULT.sub("", text[:first]).strip())
    return None


def _tagged(text: str) -> Iterator[tuple[int, Any]]:
    for match in TAGGED.finditer(text):
        for value in _json_values(match.group(1)):
            yield match.start(), value


def _fenced(text: str) -> Iterator[tuple[int, Any]]:
    for match in FENCED.finditer(text):
        for value in _json_values(match.group(1)):
            yield match.start(), value


def _bare(text: str) -> Iterator[tuple[int, Any]]:
    """JSON objects (or arrays of them) standing on their own in the text."""
    decoder = json.JSONDecoder()
    i = 0
    while (i := _next_opening(text, i)) != -1:
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        yield i, value
        i = end


def _next_opening(text: str, start: int) -> int:
    positions = [p for p in (text.find("{", start), text.find("[", start)) if p != -1]
    return min(positions) if positions else -1


def _json_values(block: str) -> Iterator[Any]:
    """One JSON value, or several one after another (one call per line)."""
    decoder = json.JSONDecoder()
    i, block = 0, block.strip()
    while i < len(block):
        try:
            value, end = decoder.raw_decode(block, i)
        except ValueError:
            return
        yield value
        i = end
        while i < len(block) and block[i] in " \t\r\n,":
            i += 1


def call_shaped(value: Any) -> bool:
    """A tool call written as JSON (one, or a list of them), whatever tool it names."""
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(_call_fields(item) is not None for item in items)


def _call_fields(item: Any) -> dict[str, Any] | None:
    """The `{"name", "arguments"}` object of a call (unwrapped from `{"function": …}`)."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):
        item = item["function"]
    keys = set(item)
    if not isinstance(item.get("name"), str) or keys - {
        "name",
        "arguments",
        "parameters",
        "type",
        "id",
    }:
        return None
    if not keys & {"arguments", "parameters"}:
        return None  # {"name": "resnet"} is data, not a call
    return item


def _as_calls(value: Any, offered: Collection[str]) -> list[TextCall]:
    items = value if isinstance(value, list) else [value]
    calls = [c for c in (_as_call(item, offered) for item in items) if c is not None]
    # A list counts only when all of it is calls: `[{"name": "x"}]` may just be data.
    return calls if len(calls) == len(items) else []


def _as_call(item: Any, offered: Collection[str]) -> TextCall | None:
    fields = _call_fields(item)
    if fields is None:
        return None
    item, name = fields, fields["name"]
    tool = _offered_name(name, offered)
    if tool is None:
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return TextCall(tool, arguments)  # as written: the tool's check will say why
    if arguments is None:
        arguments = {}
    return TextCall(tool, json.dumps(arguments, ensure_ascii=False))


def _offered_name(name: str, offered: Collection[str]) -> str | None:
    if name in offered:
        return name
    endings = [tool for tool in offered if tool.endswith("_" + name)]
    return endings[0] if len(endings) == 1 else None
