"""The streaming chat-completions protocol, read into one reply and written back out.

`Reply.feed` takes the endpoint's SSE bytes as they come and assembles the
choice's text and tool calls, the finish reason and the usage; `Reply.chunks`
writes a reply as the SSE stream opencode's `@ai-sdk/openai-compatible`
provider reads: a role delta, the text, one delta per tool call, the finish,
the usage, `[DONE]`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    id: str
    name: str
    arguments: str  # JSON text


@dataclass
class Reply:
    text: str = ""
    reasoning: str = ""
    calls: list[Call] = field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] | None = None
    model: str = ""
    id: str = "chatcmpl-mlops"
    created: int = field(default_factory=lambda: int(time.time()))
    # What the endpoint sent besides (llama.cpp's `timings`): passed on with the usage.
    extra: dict[str, Any] = field(default_factory=dict)
    _buffer: bytes = b""
    _by_index: dict[int, Call] = field(default_factory=dict)

    # -- reading ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._line(line.strip())

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return  # comments, `event:` lines, blank separators
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        if isinstance(event, dict):
            self.event(event)

    def event(self, event: dict[str, Any]) -> None:
        self.model = event.get("model") or self.model
        self.id = event.get("id") or self.id
        if isinstance(event.get("usage"), dict):
            self.usage = _finite(event["usage"])
        if isinstance(event.get("timings"), dict):
            self.extra["timings"] = _finite(event["timings"])
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta.get("content"), str):
                self.text += delta["content"]
            if isinstance(delta.get("reasoning_content"), str):
                self.reasoning += delta["reasoning_content"]
            for tc in delta.get("tool_calls") or []:
                self._tool_delta(tc)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def _tool_delta(self, tc: dict[str, Any]) -> None:
        index = int(tc.get("index", len(self._by_index)))
        call = self._by_index.get(index)
        if call is None:
            call = Call(id="", name="", arguments="")
            self._by_index[index] = call
            self.calls.append(call)
        call.id = tc.get("id") or call.id
        fn = tc.get("function") or {}
        call.name += fn.get("name") or ""
        call.arguments += fn.get("arguments") or ""

    # -- writing ---------------------------------------------------------------------------

    def chunks(self) -> list[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return self._envelope(choices=[choice])

        out = [chunk({"role": "assistant", "content": ""})]
        if self.reasoning:
            out.append(chunk({"reasoning_content": self.reasoning}))
        if self.text:
            out.append(chunk({"content": self.text}))
        for index, call in enumerate(self.calls):
            function = {"name": call.name, "arguments": call.arguments}
            tool = {"index": index, "id": call.id, "type": "function", "function": function}
            out.append(chunk({"tool_calls": [tool]}))
        finish = "tool_calls" if self.calls else (self.finish or "stop")
        if finish == "tool_calls" and not self.calls:
            finish = "stop"
        out.append(chunk({}, finish))
        if self.usage is not None:
            out.append(self._envelope(choices=[], usage=self.usage, **self.extra))
        return [b"data: " + json.dumps(c).encode() + b"\n\n" for c in out] + [b"data: [DONE]\n\n"]

    def _envelope(self, **fields: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            **fields,
        }


def _finite(value: Any) -> Any:
    """`value` with non-finite numbers (1e400 parses as infinity) as null: what is passed
    on must be JSON every reader accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
