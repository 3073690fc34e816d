"""One warm-up turn at every opencode start, answered by a canned local endpoint.

opencode's first turn in a fresh process is several times slower than the next
ones (measured here: 4–12 s against 1–2 s): the agent loop, the AI SDK provider
and the tool-call path load and compile on first use. One turn against this
endpoint pays that before the runtime counts as up — never against the real
model, which sees no extra request. The endpoint asks for a tool that does not
exist (opencode answers it with an error and runs nothing), then says "ok";
`WarmUp` deletes the warm-up session afterwards. Its first request is kept:
the system prompt and tools in it are those of every real turn, for a model
whose prompt cache should hold them before the first turn (`first_request`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from agent.opencode.client import ModelRef, OpencodeClient
from agent.opencode.errors import OpencodeError

# The runtime's logger: its log lines read as they did before it was split into parts.
log = logging.getLogger("agent.opencode.runtime")

PROVIDER_ID = "warmup"
MODEL_ID = "canned"
NO_SUCH_TOOL = "warmup_noop"
_WARMUP_S = 60.0

PromptHook = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


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


class WarmUp:
    """The warm-up turn at each opencode start: its endpoint, entered in the runtime's
    config, and the hand-over of its first request to `on_prompt` (the prefill)."""

    def __init__(self, config: dict[str, Any], agent: str, on_prompt: PromptHook | None) -> None:
        self._config = config  # the opencode config the runtime writes at each start
        self.agent = agent
        # Called with the warm-up's first request after every start: the system prompt and
        # tools every turn will send (the embedded model reads them ahead of the first turn).
        self.on_prompt = on_prompt
        self._endpoint: WarmupEndpoint | None = None
        self._prefill: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start the canned endpoint (once) and add its provider to the config."""
        if self._endpoint is not None:
            return
        self._endpoint = WarmupEndpoint()
        url = await self._endpoint.start()
        # Only in the config this runtime writes: the agent's turns always name the model.
        self._config["provider"][PROVIDER_ID] = provider_config(url)
        self._config["enabled_providers"].append(PROVIDER_ID)

    async def run(self, client: OpencodeClient) -> None:
        """One turn against the canned local endpoint, its session deleted after."""
        began = time.monotonic()
        try:
            session = await client.create_session("warm-up")
            canned = ModelRef(PROVIDER_ID, MODEL_ID)
            await asyncio.wait_for(
                client.prompt(session, "warm-up", agent=self.agent, model=canned), _WARMUP_S
            )
            await client.delete_session(session)
        except (OpencodeError, TimeoutError) as exc:
            log.warning("opencode warm-up turn failed (the first real turn pays it): %r", exc)
            return
        log.info("opencode warmed up in %.1f s", time.monotonic() - began)
        assert self._endpoint is not None
        body, self._endpoint.first_request = self._endpoint.first_request, None
        if self.on_prompt is not None and body is not None:
            if self._prefill is not None:
                self._prefill.cancel()
            self._prefill = asyncio.create_task(self.on_prompt(body), name="model-prefill")

    async def cancel_prefill(self) -> None:
        if self._prefill is not None:
            self._prefill.cancel()
            await asyncio.gather(self._prefill, return_exceptions=True)
            self._prefill = None

    async def close(self) -> None:
        """Stop the endpoint and take its provider out of the config again."""
        if self._endpoint is not None:
            await self._endpoint.stop()
            self._endpoint = None
            del self._config["provider"][PROVIDER_ID]
            self._config["enabled_providers"].remove(PROVIDER_ID)
