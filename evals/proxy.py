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
                try:
                    async for chunk in upstream.content.iter_any():
                        stream.feed(chunk)
                        await response.write(chunk)
                finally:
                    stream.finish()
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
    """A whole (non-streamed) answer. Whatever its shape, the call keeps what it can read."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return
    if not isinstance(data, dict):
        return
    _usage(call, data.get("usage"))
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return  # no choices (or no message): nothing was said
    call.text = _text(message.get("content"))
    calls = message.get("tool_calls")
    for tc in calls if isinstance(calls, list) else []:
        if not isinstance(tc, dict):
            continue
        fn = _mapping(tc.get("function"))
        call.tool_calls.append(
            {
                "id": _string(tc.get("id")),
                "name": _string(fn.get("name")),
                "arguments": _string(fn.get("arguments")),
            }
        )


MAX_TOKENS = 10**9  # usage above this (or negative, or not a whole number) is not usage


def _usage(call: ModelCall, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
            setattr(call, key, value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str:
    """A field that should be text: kept as text, anything else as its JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


class _StreamReader:
    """Assembles the SSE stream's deltas into the call's text and tool calls.

    Reading never fails the stream: a line that is not the protocol is skipped, and
    text is kept in parts (joined on `finish`), so a reply of megabytes in tiny
    deltas costs linear time."""

    def __init__(self, call: ModelCall) -> None:
        self.call = call
        self._lines: list[bytes] = []  # the unfinished line's pieces
        self._text: list[str] = []
        self._by_index: dict[int, dict[str, list[str]]] = {}

    def feed(self, chunk: bytes) -> None:
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            self._lines.append(piece)
            line, self._lines = b"".join(self._lines), []
            self._line(line.strip())
        if rest:
            self._lines.append(rest)

    def finish(self) -> None:
        """What the stream said, onto the call (also after a broken stream)."""
        if self._lines:
            line, self._lines = b"".join(self._lines), []
            self._line(line.strip())
        self.call.text = "".join(self._text)
        self.call.tool_calls = [
            {
                "id": "".join(s["id"][-1:]),
                "name": "".join(s["name"]),
                "arguments": "".join(s["arguments"]),
            }
            for _, s in sorted(self._by_index.items())
        ]

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            return
        if not isinstance(event, dict):
            return
        _usage(self.call, event.get("usage"))
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                self._text.append(delta["content"])
            calls = delta.get("tool_calls")
            for tc in calls if isinstance(calls, list) else []:
                if isinstance(tc, dict):
                    self._tool_delta(tc)

    def _tool_delta(self, tc: dict[str, Any]) -> None:
        index = tc.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool):
            index = len(self._by_index)  # no usable index: a call of its own
        slot = self._by_index.setdefault(index, {"id": [], "name": [], "arguments": []})
        if tc.get("id"):
            slot["id"].append(_string(tc["id"]))
        fn = _mapping(tc.get("function"))
        if fn.get("name"):
            slot["name"].append(_string(fn["name"]))
        if fn.get("arguments"):
            slot["arguments"].append(_string(fn["arguments"]))
