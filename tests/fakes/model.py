"""A scripted OpenAI-compatible model server: the one test double for the LLM.

It speaks the streaming chat-completions protocol the way opencode's
`@ai-sdk/openai-compatible` provider reads it (SSE `data:` chunks with
`choices[0].delta` text or `tool_calls` deltas, a chunk with `finish_reason`,
a usage chunk, then `data: [DONE]`), plus `GET /v1/models`.

It runs its own event loop in a thread, so one server can outlive a test's
event loop (module-scoped fixtures) and a test can block on opencode while
the model keeps answering. Each answer comes from, in order: the queue of
pushed replies, `handler(request)` (which may return an awaitable), or the
default text reply.

    model = ScriptedModel().start()
    model.push(Reply.tool_calls(("echo_say", {"text": "hi"})), Reply.text("done"))
    model.handler = lambda req: Reply.text(f"saw {req.last_user_text}")
    model.down = True  # refuse connections, like a dead inference server
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text and/or tool calls, or an HTTP error."""

    content: str = ""
    calls: tuple[ToolCall, ...] = ()
    status: int = 200
    # Honoured by opencode's retry loop instead of its 2 s → 32 s backoff.
    retry_after_ms: int | None = None
    # Reported as usage.prompt_tokens (opencode compacts on it); None: estimated.
    prompt_tokens: int | None = None
    # The finish reason sent; None: "tool_calls" with calls, else "stop" ("length": cut off).
    finish: str | None = None

    @classmethod
    def text(cls, content: str, *, prompt_tokens: int | None = None) -> Reply:
        return cls(content=content, prompt_tokens=prompt_tokens)

    @classmethod
    def tool_calls(cls, *calls: tuple[str, dict[str, Any]], content: str = "") -> Reply:
        return cls(content=content, calls=tuple(ToolCall(name, args) for name, args in calls))

    @classmethod
    def error(cls, status: int = 503, *, retry_after_ms: int | None = None) -> Reply:
        return cls(status=status, retry_after_ms=retry_after_ms)


def _text_of(content: Any) -> str:
    """Message content is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


@dataclass
class ModelRequest:
    """One chat-completions request as the model received it."""

    raw: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.raw.get("messages", []))

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.raw.get("tools") or []]

    @property
    def system(self) -> str:
        return "\n".join(_text_of(m.get("content")) for m in self.messages if m["role"] == "system")

    @property
    def last_user_text(self) -> str:
        users = [m for m in self.messages if m["role"] == "user"]
        return _text_of(users[-1].get("content")) if users else ""

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["role"] == "tool"]


Handler = Callable[[ModelRequest], "Reply | Awaitable[Reply]"]


class ScriptedModel:
    def __init__(self, model_id: str = "scripted", default_reply: Reply | None = None) -> None:
        self.model_id = model_id
        self.default_reply = default_reply or Reply.text("ok")
        self.handler: Handler | None = None
        self.requests: list[ModelRequest] = []
        self.delay_s = 0.0
        self.port = 0
        self._queue: collections.deque[Reply] = collections.deque()
        self._down = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Reply) -> None:
        self._queue.extend(replies)

    def reset(self) -> None:
        """Back to a clean script: up, no delay, no handler, nothing queued or recorded."""
        self.down = False
        self.handler = None
        self.delay_s = 0.0
        self._queue.clear()
        self.requests.clear()

    async def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> ModelRequest:
        """Wait until `count` requests have arrived; returns the latest."""
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"model saw {len(self.requests)} requests, wanted {count}")
            await asyncio.sleep(0.02)
        return self.requests[-1]

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> ScriptedModel:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="scripted-model", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scripted model did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._call(self._stop_serving())
        self._call(self._cancel_pending())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedModel:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        """Down closes the listener and every open connection: callers get connection
        refused or reset, as from a stopped inference server. Up listens again on the
        same port."""
        if value == self._down:
            return
        self._down = value
        self._call(self._stop_serving() if value else self._serve())

    def _call(self, coro: Awaitable[Any]) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _cancel_pending(self) -> None:
        """Handlers still sleeping on `delay_s` for callers that went away."""
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _stop_serving(self) -> None:
        if self._runner is not None:
            # cleanup() also closes keep-alive connections, which a stopped
            # listener alone would keep serving.
            await self._runner.cleanup()
            self._runner = None

    # -- protocol --------------------------------------------------------------

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model_id, "object": "model"}]}
        )

    async def _next_reply(self, request: ModelRequest) -> Reply:
        if self._queue:
            return self._queue.popleft()
        if self.handler is not None:
            reply = self.handler(request)
            if inspect.isawaitable(reply):
                reply = await reply
            return reply
        return self.default_reply

    async def _chat(self, http_request: web.Request) -> web.StreamResponse:
        body = await http_request.json()
        request = ModelRequest(raw=body, headers=dict(http_request.headers))
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
            transport = http_request.transport
            if transport is None or transport.is_closing():
                # The caller is gone (aborted, killed): a dead request consumes no reply.
                return web.Response(status=499)
        reply = await self._next_reply(request)
        if reply.status != 200:
            headers = {}
            if reply.retry_after_ms is not None:
                headers["retry-after-ms"] = str(reply.retry_after_ms)
            error = {"message": "scripted failure", "type": "server_error", "code": reply.status}
            return web.json_response({"error": error}, status=reply.status, headers=headers)
        usage = {
            "prompt_tokens": reply.prompt_tokens or len(json.dumps(request.messages)) // 4,
            "completion_tokens": len(reply.content) // 4 + 1,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            return web.json_response(self._completion(reply, usage))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        try:
            await response.prepare(http_request)
            for chunk in self._chunks(reply, usage):
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the caller went away mid-answer (aborted, or killed by a test)
        return response

    def _envelope(self, **fields: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model_id,
            **fields,
        }

    def _chunks(self, reply: Reply, usage: dict[str, int]) -> list[dict[str, Any]]:
        def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return self._envelope(choices=[{"index": 0, "delta": d, "finish_reason": finish}])

        chunks = [delta({"role": "assistant", "content": ""})]
        # Text in a few pieces, so the client has to assemble deltas.
        words = reply.content.split(" ")
        for i in range(0, len(words), 3):
            piece = " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "")
            if piece:
                chunks.append(delta({"content": piece}))
        for index, call in enumerate(reply.calls):
            args = json.dumps(call.arguments)
            half = len(args) // 2
            head = {"index": index, "id": call.id, "type": "function"}
            first = {**head, "function": {"name": call.name, "arguments": ""}}
            chunks.append(delta({"tool_calls": [first]}))
            for part in (args[:half], args[half:]):
                chunks.append(
                    delta({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
                )
        chunks.append(delta({}, reply.finish or ("tool_calls" if reply.calls else "stop")))
        chunks.append(self._envelope(choices=[], usage=usage))
        return chunks

    def _completion(self, reply: Reply, usage: dict[str, int]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in reply.calls
            ]
        finish = reply.finish or ("tool_calls" if reply.calls else "stop")
        return {
            **self._envelope(object="chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
