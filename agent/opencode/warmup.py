"""One warm-up turn at every opencode start, answered by a canned local endpoint.

opencode's first turn in a fresh process is several times slower than the next
ones (measured here: 4–12 s against 1–2 s): the agent loop, the AI SDK provider
and the tool-call path load and compile on first use. One turn against this
endpoint pays that before the runtime counts as up — never against the real
model, which sees no extra request. The endpoint asks for a tool that does not
exist (opencode answers it with an error and runs nothing), then says "ok";
the runtime deletes the warm-up session afterwards. Its first request is kept:
the system prompt and tools in it are those of every real turn, for a model
whose prompt cache should hold them before the first turn (`first_request`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROVIDER_ID = "warmup"
MODEL_ID = "canned"
NO_SUCH_TOOL = "warmup_noop"


def provider_config(base_url: str) -> dict[str, Any]:
    """The entry for opencode's `provider` map (and `enabled_providers`: PROVIDER_ID)."""
    return {
        "npm": "@ai-sdk/openai-compatible",
        "name": "Warm-up (canned, local)",
        "options": {"baseURL": base_url, "apiKey": "none"},
        "models": {MODEL_ID: {"tool_call": True, "limit": {"context": 32768, "output": 64}}},
    }


class WarmupEndpoint:
    """A streaming chat-completions endpoint on 127.0.0.1 with two canned answers."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.requests = 0
        self.first_request: dict[str, Any] | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        if self.first_request is None:
            self.first_request = body
        messages = body.get("messages") or [{}]
        tool_answered = messages[-1].get("role") == "tool"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in _chunks(tool_answered):
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _chunks(tool_answered: bool) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "warmup", "object": "chat.completion.chunk", "choices": [choice]}

    if tool_answered:
        answer = [chunk({"role": "assistant", "content": "ok"}), chunk({}, "stop")]
    else:
        call = {
            "index": 0,
            "id": "call_warmup",
            "type": "function",
            "function": {"name": NO_SUCH_TOOL, "arguments": "{}"},
        }
        answer = [chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    tail = {"id": "warmup", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    return [*answer, tail]
