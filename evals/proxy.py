"""A recording proxy in front of the model endpoint: what the model saw, said and cost.

opencode talks to the proxy as if it were the endpoint; the proxy forwards every
request unchanged (streaming included) and, on the side, keeps per request: the
turn it belongs to (from the supervisor's `[turn_id=… conversation=…]` header),
the messages of that turn, the reply assembled from the stream (text and tool
calls, arguments as sent) and the endpoint's usage numbers. Nothing is judged
here; the scoring reads these records afterwards.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

HEADER = re.compile(r"\[turn_id=(?P<turn>\S+) conversation=(?P<conversation>\S+) ")
# Only these request headers travel on; hop-by-hop ones never do.
FORWARDED = ("authorization", "content-type", "accept", "x-session-id")


@dataclass
class ModelCall:
    """One chat-completions request and its answer."""

    turn_id: str | None
    conversation: str | None
    session: str | None
    turn_messages: list[dict[str, Any]]  # from the turn's own user message on
    tools: list[str] = field(default_factory=list)  # the tools the request offered
    text: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # id, name, arguments (raw)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status: int = 0
    seconds: float = 0.0


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def turn_slice(
    messages: list[dict[str, Any]],
) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(turn id, conversation, messages from the turn's header message on)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            found = HEADER.search(_text(messages[i].get("content")))
            if found:
                return found["turn"], found["conversation"], messages[i:]
    return None, None, []


class RecordingProxy:
    def __init__(self, upstream: str, api_key: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.api_key = api_key
        self.calls: list[ModelCall] = []
        self.system_prompt: str | None = None
        self._session_turn: dict[str, tuple[str, str]] = {}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> RecordingProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=600))
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def tools_offered(self) -> list[str]:
        return self.calls[-1].tools if self.calls else []

    def calls_of(self, turn_ids: set[str]) -> list[ModelCall]:
        return [c for c in self.calls if c.turn_id in turn_ids]

    # -- forwarding ----------------------------------------------------------------------

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _models(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        try:
            async with self._http.get(
                f"{self.upstream}/models",
                headers=self._headers(request),
                timeout=aiohttp.ClientTimeout(total=5),
            ) as upstream:
                body = await upstream.read()
                return web.Response(
                    body=body, status=upstream.status, content_type=upstream.content_type
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json_response({"error": {"message": f"proxy: {exc}"}}, status=502)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        raw = await request.read()
        body = json.loads(raw)
        call = self._record_request(body, request.headers.get("x-session-id"))
        started = time.monotonic()
        try:
            async with self._http.post(
                f"{self.upstream}/chat/completions", data=raw, headers=self._headers(request)
            ) as upstream:
                call.status = upstream.status
                if upstream.status != 200 or not body.get("stream"):
                    payload = await upstream.read()
                    if upstream.status == 200:
                        _read_completion(call, payload)
                    return web.Response(
                        body=payload,
                        status=upstream.status,
                        headers=_passed_back(upstream.headers),
                    )
                response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await response.prepare(request)
                stream = _StreamReader(call)
                async for chunk in upstream.content.iter_any():
                    stream.feed(chunk)
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            call.status = 502
            return web.json_response({"error": {"message": f"proxy: {exc}"}}, status=502)
        except ConnectionResetError:
            return web.Response(status=499)  # opencode went away (an aborted turn)
        finally:
            call.seconds = time.monotonic() - started

    def _record_request(self, body: dict[str, Any], session: str | None) -> ModelCall:
        messages = list(body.get("messages") or [])
        if self.system_prompt is None:
            self.system_prompt = "\n".join(
                _text(m.get("content")) for m in messages if m.get("role") == "system"
            )
        turn_id, conversation, own = turn_slice(messages)
        if turn_id is None and session in self._session_turn:
            # e.g. opencode summarising a long session: charged to the turn running there
            turn_id, conversation = self._session_turn[session]
        elif turn_id is not None and session:
            self._session_turn[session] = (turn_id, conversation or "")
        tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or []]
        call = ModelCall(turn_id, conversation, session, own, tools)
        self.calls.append(call)
        return call


def _passed_back(headers: Any) -> dict[str, str]:
    keep = ("content-type", "retry-after", "retry-after-ms")
    return {k: v for k, v in headers.items() if k.lower() in keep}


def _read_completion(call: ModelCall, payload: bytes) -> None:
    try:
        data = json.loads(payload)
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return
    call.text = _text(message.get("content"))
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function") or {}
        call.tool_calls.append(
            {
                "id": tc.get("id", ""),
                "name": fn.get("name", ""),
                "arguments": fn.get("arguments", ""),
            }
        )
    _usage(call, data.get("usage"))


def _usage(call: ModelCall, usage: Any) -> None:
    if isinstance(usage, dict):
        call.prompt_tokens = usage.get("prompt_tokens", call.prompt_tokens)
        call.completion_tokens = usage.get("completion_tokens", call.completion_tokens)


class _StreamReader:
    """Assembles the SSE stream's deltas into the call's text and tool calls."""

    def __init__(self, call: ModelCall) -> None:
        self.call = call
        self._buffer = b""
        self._by_index: dict[int, dict[str, str]] = {}

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._line(line.strip())

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        _usage(self.call, event.get("usage"))
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.call.text += delta["content"]
            for tc in delta.get("tool_calls") or []:
                index = int(tc.get("index", 0))
                slot = self._by_index.get(index)
                if slot is None:
                    slot = {"id": "", "name": "", "arguments": ""}
                    self._by_index[index] = slot
                    self.call.tool_calls.append(slot)
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
