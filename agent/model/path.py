"""The model path: the endpoint opencode talks to, in front of the real one.

A small local HTTP server that forwards each chat-completions request to the
model endpoint (the embedded model, or any OpenAI-compatible one) and does the
mechanical work a small or slow model needs on the way:

- the request: a byte-stable system prompt and compact tools (`prompt`);
- the answer: read whole from the endpoint's stream, then written back as one
  stream. While the model thinks (a cold prefill on CPU takes minutes) it sends
  SSE comments, so opencode's read timeouts never fire and a caller that went
  away (an aborted turn) is noticed: the model's request is then closed too;
- tool calls written as text become real `tool_calls` (`toolcalls`), when
  `repair_tool_text` is on (the embedded model; `MLOPS_MODEL_TOOL_TEXT` for others);
- a call written twice in one reply runs once, and a call that would repeat a
  failing call a third time is replaced by a note that ends the turn (`loops`),
  when `stop_repeats` is on.

It judges nothing: what the model says passes on as it said it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from agent import metrics
from agent.model import loops
from agent.model.prompt import offered_tools, stable_request
from agent.model.stream import Call, Reply
from agent.model.toolcalls import find_calls

log = logging.getLogger(__name__)

KEEPALIVE_S = 10.0
# Request headers passed on; hop-by-hop ones never are.
FORWARDED = ("content-type", "accept", "x-session-id")
PASSED_BACK = ("content-type", "retry-after", "retry-after-ms")


class ModelPath:
    def __init__(
        self,
        upstream: str,
        *,
        api_key: str = "none",
        repair_tool_text: bool = False,
        stop_repeats: bool = True,
        read_timeout_s: float = 600.0,
        port: int = 0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.api_key = api_key
        self.repair_tool_text = repair_tool_text
        self.stop_repeats = stop_repeats
        self.read_timeout_s = read_timeout_s
        self.port = port
        self.repaired = 0  # replies whose text calls became tool calls
        self.stopped = 0  # replies replaced by the repeat note
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_post("/v1/chat/completions", self._chat)
        # A caller that goes away (opencode killed, a turn aborted) cancels its handler at
        # once, and with it the model's request: the endpoint stops working for nobody, and
        # an answer nobody reads is not taken from it.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = self._runner.addresses[0][1]
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.read_timeout_s)
        self._http = aiohttp.ClientSession(timeout=timeout)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        assert self._http is not None
        try:
            async with self._http.get(
                f"{self.upstream}/models",
                headers=self._headers(request),
                timeout=aiohttp.ClientTimeout(total=5),
            ) as upstream:
                body = await upstream.read()
                return web.Response(body=body, status=upstream.status, headers=_back(upstream))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _error(502, f"model endpoint {self.upstream} unreachable: {exc!r}")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        body = stable_request(body)
        answer = asyncio.ensure_future(
            self._http.post(
                f"{self.upstream}/chat/completions", json=body, headers=self._headers(request)
            )
        )
        response: web.StreamResponse | None = None
        try:
            # A server may hold its headers until the prompt is processed (minutes on CPU):
            # the caller gets ours, and keep-alive comments, meanwhile.
            await asyncio.wait({answer}, timeout=KEEPALIVE_S)
            if not answer.done() and body.get("stream"):
                response = await self._open_stream(request)
                await self._keep_alive(response, answer)
            upstream = await answer
        except ConnectionResetError:  # (before ClientError: aiohttp's is both)
            return response or web.Response(status=499)  # the caller went away first
        except (aiohttp.ClientError, TimeoutError) as exc:
            return await self._fail(
                request, response, 502, f"model endpoint {self.upstream}: {exc!r}"
            )
        finally:
            if not answer.done():
                answer.cancel()
                await asyncio.gather(answer, return_exceptions=True)
        try:
            if upstream.status != 200 or not body.get("stream"):
                payload = await upstream.read()
                if response is None:
                    return web.Response(
                        body=payload, status=upstream.status, headers=_back(upstream)
                    )
                return await self._fail(
                    request, response, upstream.status, payload.decode(errors="replace")
                )
            return await self._stream(request, response, upstream, body)
        finally:
            upstream.close()  # not back to a pool: a half-read answer must end the request

    async def _open_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        return response

    async def _keep_alive(self, response: web.StreamResponse, task: asyncio.Future[Any]) -> None:
        """SSE comments until `task` is done; ConnectionResetError when the caller left."""
        while not task.done():
            await asyncio.wait({task}, timeout=KEEPALIVE_S)
            if not task.done():
                await response.write(b": the model is still working\n\n")

    async def _fail(
        self, request: web.Request, response: web.StreamResponse | None, status: int, message: str
    ) -> web.StreamResponse:
        """An error as a status while we can, else as the stream's error event."""
        if response is None:
            return _error(status, message)
        error = {"error": {"message": message, "type": "model_path", "code": status}}
        with contextlib.suppress(ConnectionResetError):
            await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
            await response.write_eof()
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse | None,
        upstream: aiohttp.ClientResponse,
        body: dict[str, Any],
    ) -> web.StreamResponse:
        reply = Reply(model=str(body.get("model", "")))
        reading = asyncio.create_task(_read(upstream, reply))
        try:
            response = response or await self._open_stream(request)
            await self._keep_alive(response, reading)
            if (failure := reading.exception()) is not None:
                return await self._fail(request, response, 502, f"model endpoint: {failure!r}")
            self._finish(reply, body)
            for chunk in reply.chunks():
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            log.info("the caller went away (an aborted turn?); closing the model's request")
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        return response or web.Response(status=499)

    def _finish(self, reply: Reply, body: dict[str, Any]) -> None:
        usage = reply.usage or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        log.info(
            "model answered: %s prompt tokens (%s from its cache), %s out, %d call(s)",
            usage.get("prompt_tokens", "?"),
            "?" if cached is None else cached,
            usage.get("completion_tokens", "?"),
            len(reply.calls),
        )
        if self.repair_tool_text and not reply.calls:
            found = find_calls(reply.text, offered_tools(body))
            if found is not None:
                # The model's own words, for whoever wonders what it wrote (raw, cut).
                log.info("a tool call written as text, passed on as a call: %r", reply.text[:800])
                reply.text = found.prose
                reply.calls = [
                    Call("call_" + uuid.uuid4().hex[:16], c.name, c.arguments) for c in found.calls
                ]
                self.repaired += 1
                metrics.MODEL_REPAIRED_CALLS.inc(len(found.calls))
        if self.stop_repeats and reply.calls:
            written = len(reply.calls)
            reply.calls = loops.distinct(reply.calls, key=lambda c: (c.name, c.arguments))
            if len(reply.calls) < written:
                log.info("a reply wrote %d calls, %d of them different", written, len(reply.calls))
            attempts = loops.turn_attempts(list(body.get("messages") or []))
            for call in reply.calls:
                if (
                    repeated := loops.repeated_failure(attempts, call.name, call.arguments)
                ) is not None:
                    reply.text, reply.calls = loops.stop_note(repeated), []
                    self.stopped += 1
                    metrics.MODEL_REPEATS_STOPPED.inc()
                    log.warning("stopped a turn repeating a failing call: %s", call.name)
                    break


async def _read(upstream: aiohttp.ClientResponse, reply: Reply) -> None:
    async for data in upstream.content.iter_any():
        reply.feed(data)
    reply.feed(b"\n")


def _back(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower() in PASSED_BACK}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "model_path"}}, status=status)
