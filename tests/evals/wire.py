"""A scripted agent's reading of one chat-completions request: only what a model receives.

The system prompt (the brief), the tools offered, and the conversation: the
supervisor's turns (`[turn_id=…]` header, `[supervisor]` notes, rendered
events, people's messages, clicks, ticks), the agent's own earlier replies and
tool calls, and the tools' results. Nothing here knows about scenario files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.model import ModelRequest

HEADER = re.compile(r"^\[turn_id=(?P<turn>\S+) conversation=(?P<conversation>\S+) ")
ITEM_HEAD = re.compile(
    r"^(event \S+ \S+ job=|message \S+ from <@|button \w+ |tick \S+:|watch \S+:|\[supervisor\])"
)
EVENT_HEAD = re.compile(r"^event (?P<type>\S+) \S+ job=(?P<job>\S+)$")
MESSAGE_HEAD = re.compile(r"^message \S+ from <@(?P<user>[^>]+)>:$")
PAIR = re.compile(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)')
DICT_LINE = re.compile(r"^([\w.-]+): (.*)$")
BLOCK_START = re.compile(r"^([\w.-]+):$")


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


@dataclass
class Item:
    kind: str  # event | message | button | tick | watch
    text: str  # the whole rendered item
    type: str = ""  # an event's type
    job: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # scalars, dicts (metrics, labels), blocks
    user: str = ""  # a message's sender
    body: str = ""  # a message's words, a tick's text

    @property
    def metrics(self) -> dict[str, Any]:
        value = self.fields.get("metrics")
        return value if isinstance(value, dict) else {}

    @property
    def labels(self) -> dict[str, Any]:
        value = self.fields.get("labels")
        return value if isinstance(value, dict) else {}


@dataclass
class Turn:
    turn_id: str
    conversation: str
    notes: list[str]  # [supervisor] lines
    items: list[Item]

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]


@dataclass
class Call:
    id: str
    name: str
    args: dict[str, Any]
    result: str | None

    @property
    def failed(self) -> bool:
        return self.result is None or self.result.startswith(
            ("Error executing tool", "MCP error", "Model tried to call")
        )

    @property
    def data(self) -> Any:
        """The result as JSON (a union result's `result` unwrapped), or None."""
        if self.failed or self.result is None:
            return None
        try:
            value = json.loads(self.result)
        except ValueError:
            return None
        if isinstance(value, dict) and set(value) == {"result"}:
            return value["result"]
        return value


@dataclass
class Wire:
    system: str
    tools: set[str]
    turn: Turn
    calls: list[Call]  # this turn's, in order
    history: list[Turn]  # earlier turns of this conversation
    earlier_calls: list[Call]
    earlier_replies: list[str]
    messages: list[dict[str, Any]]

    @classmethod
    def of(cls, request: ModelRequest) -> Wire:
        messages = request.messages
        user_turns = [
            (i, parse_turn(text_of(m.get("content"))))
            for i, m in enumerate(messages)
            if m.get("role") == "user" and HEADER.match(text_of(m.get("content")))
        ]
        if not user_turns:
            raise ValueError("no supervisor turn in the request")
        last_index, turn = user_turns[-1]
        return cls(
            system=request.system,
            tools=set(request.tool_names),
            turn=turn,
            calls=calls_in(messages[last_index + 1 :]),
            history=[t for _, t in user_turns[:-1]],
            earlier_calls=calls_in(messages[:last_index]),
            earlier_replies=[
                text_of(m.get("content"))
                for m in messages[:last_index]
                if m.get("role") == "assistant" and text_of(m.get("content"))
            ],
            messages=messages,
        )

    def done(self, name: str, args: dict[str, Any] | None = None) -> Call | None:
        """This turn's call of `name` (with exactly `args`, if given)."""
        for call in reversed(self.calls):
            if call.name == name and (args is None or call.args == args):
                return call
        return None

    def all_calls(self) -> list[Call]:
        return self.earlier_calls + self.calls


def calls_in(messages: list[dict[str, Any]]) -> list[Call]:
    results = {
        str(m.get("tool_call_id")): text_of(m.get("content"))
        for m in messages
        if m.get("role") == "tool"
    }
    calls = []
    for m in messages:
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {}
            calls.append(
                Call(
                    str(tc.get("id")),
                    fn.get("name", ""),
                    args if isinstance(args, dict) else {},
                    results.get(str(tc.get("id"))),
                )
            )
    return calls


def parse_turn(text: str) -> Turn:
    chunks = text.split("\n\n")
    head = HEADER.match(chunks[0])
    assert head is not None
    grouped: list[str] = []
    for chunk in chunks[1:]:
        if ITEM_HEAD.match(chunk) or not grouped:
            grouped.append(chunk)
        else:
            grouped[-1] += "\n\n" + chunk  # a message with blank lines in it
    notes = [g.removeprefix("[supervisor] ") for g in grouped if g.startswith("[supervisor]")]
    items = [parse_item(g) for g in grouped if not g.startswith("[supervisor]")]
    return Turn(head["turn"], head["conversation"], notes, items)


def parse_item(text: str) -> Item:
    first, _, rest = text.partition("\n")
    if found := EVENT_HEAD.match(first):
        return Item("event", text, found["type"], found["job"], parse_fields(rest))
    if found := MESSAGE_HEAD.match(first):
        # A person's words come indented (agent.engine.render): the body is them as written.
        body = "\n".join(line.removeprefix("  ") for line in rest.split("\n"))
        return Item("message", text, user=found["user"], body=body)
    if first.startswith("button "):
        return Item("button", text, body=first)
    if first.startswith("watch "):  # what the scheduler showed: `<job> attempt N (job ID) …`
        body = first.partition(": ")[2]
        return Item("watch", text, job=body.split(" attempt ", 1)[0], body=body)
    return Item("tick", text, body=first.partition(": ")[2] + ("\n" + rest if rest else ""))


def parse_fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    lines = text.split("\n") if text else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if block := BLOCK_START.match(line):
            body = []
            i += 1
            while i < len(lines) and lines[i].startswith("  "):
                body.append(lines[i][2:])
                i += 1
            fields[block.group(1)] = "\n".join(body)
            continue
        if (found := DICT_LINE.match(line)) and "=" not in found.group(1):
            fields[found.group(1)] = dict(_pairs(found.group(2)))
        else:
            fields.update(_pairs(line))
        i += 1
    return fields


def _pairs(text: str) -> list[tuple[str, Any]]:
    return [(key, _value(raw)) for key, raw in PAIR.findall(text)]


def _value(raw: str) -> Any:
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    if raw in ("true", "false"):
        return raw == "true"
    return raw
