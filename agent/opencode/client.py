"""An async client for the few opencode HTTP calls the service makes.

A turn is one synchronous `POST /session/{id}/message`: opencode answers when
the turn is over with the last assistant message. The turn's earlier steps
(one assistant message per tool-calling step) are read back afterwards: they
are the assistant messages whose parent is this turn's user message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from agent.opencode.errors import OpencodeHTTPError, OpencodeUnavailable

# Messages read back per page when collecting a turn's steps.
_PAGE = 50


@dataclass(frozen=True)
class ModelRef:
    provider_id: str
    model_id: str


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call of a turn, as opencode ran it."""

    tool: str  # "<server>_<tool>", e.g. "aiqu_list_jobs"
    input: dict[str, Any]
    status: str  # "completed" | "error" | "running" | "pending"
    output: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TurnError:
    """How the model call failed, from opencode's `info.error`."""

    name: str  # e.g. "APIError", "ContextOverflowError", "MessageAbortedError"
    message: str


@dataclass(frozen=True)
class TurnResult:
    session_id: str
    message_id: str  # the last assistant message
    text: str  # text parts of the last assistant message, joined
    tool_calls: tuple[ToolCallRecord, ...]
    error: TurnError | None
    finish: str | None  # "stop", "tool-calls", "length", … or None after an error
    tokens_input: int
    tokens_output: int


class OpencodeClient:
    def __init__(self, base_url: str, password: str, *, username: str = "opencode") -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            auth=(username, password),
            # No read timeout: a turn lasts as long as the model takes; the
            # runtime bounds it. Connecting is local and must be quick.
            timeout=httpx.Timeout(connect=2.0, read=None, write=10.0, pool=None),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise OpencodeUnavailable(f"opencode {method} {path}: {exc!r}") from exc
        if response.status_code >= 400:
            raise OpencodeHTTPError(method, path, response.status_code, response.text)
        return response.json() if response.content else None

    async def health(self) -> bool:
        """True when opencode answers its health check within 2 s."""
        try:
            body = await self._request("GET", "/global/health", timeout=2.0)
        except (OpencodeUnavailable, OpencodeHTTPError):
            return False
        return bool(body and body.get("healthy"))

    async def mcp_status(self, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        """`{name: {"status": "connected" | "failed" | "disabled" | …, "error"?}}` per MCP server.

        The first call in a fresh opencode starts every configured server and waits for
        them: give it the servers' start timeout."""
        return dict(await self._request("GET", "/mcp", timeout=timeout) or {})

    async def mcp_connect(self, name: str, timeout: float = 60.0) -> bool:
        """(Re)start the MCP server `name`: a running one is replaced by a new process."""
        return bool(await self._request("POST", f"/mcp/{name}/connect", timeout=timeout))

    async def create_session(self, title: str) -> str:
        # Without a title opencode spends an extra model call inventing one.
        if not title.strip():
            raise ValueError("a session needs a non-empty title, e.g. 'job resnet-42'")
        body = await self._request("POST", "/session", json={"title": title}, timeout=10.0)
        return str(body["id"])

    async def session_exists(self, session_id: str) -> bool:
        try:
            await self._request("GET", f"/session/{session_id}", timeout=10.0)
        except OpencodeHTTPError as exc:
            if exc.status in (400, 404):
                return False
            raise
        return True

    async def delete_session(self, session_id: str) -> None:
        await self._request("DELETE", f"/session/{session_id}", timeout=10.0)

    async def abort(self, session_id: str) -> None:
        await self._request("POST", f"/session/{session_id}/abort", timeout=10.0)

    async def prompt(
        self, session_id: str, text: str, *, agent: str, model: ModelRef
    ) -> TurnResult:
        """Send one user message and wait for the turn to end.

        `agent` and `model` go with every prompt: opencode keeps the last used
        ones on the session, so one bad call would otherwise stick.
        """
        body = {
            "parts": [{"type": "text", "text": text}],
            "agent": agent,
            "model": {"providerID": model.provider_id, "modelID": model.model_id},
        }
        last = await self._request("POST", f"/session/{session_id}/message", json=body)
        info = last["info"]
        steps = await self._turn_messages(session_id, info["parentID"])
        if not any(m["info"]["id"] == info["id"] for m in steps):
            steps.append(last)
        return _turn_result(session_id, last, steps)

    async def forget_interrupted_turn(self, session_id: str, text: str) -> bool:
        """Delete the last turn if its text starts with `text` (the whole text, or the turn's
        marker) and it never finished (opencode, or the whole service, died in it).

        Without this, the retried turn reaches the model as the same question twice.
        """
        page = await self._messages(session_id, _PAGE)
        users = [m for m in page if m["info"]["role"] == "user"]
        if not users or not _text_parts(users[-1]).startswith(text):
            return False
        asked = users[-1]["info"]["id"]
        answers = [m for m in page if m["info"].get("parentID") == asked]
        if any(m["info"].get("finish") == "stop" for m in answers):
            return False  # it did finish; only the reply to us was lost
        for message in [*answers, users[-1]]:
            path = f"/session/{session_id}/message/{message['info']['id']}"
            await self._request("DELETE", path, timeout=10.0)
        return True

    async def _messages(self, session_id: str, limit: int) -> list[dict[str, Any]]:
        """The session's last `limit` messages, oldest first."""
        path = f"/session/{session_id}/message"
        return list(await self._request("GET", path, params={"limit": limit}, timeout=10.0))

    async def _turn_messages(self, session_id: str, user_message_id: str) -> list[dict[str, Any]]:
        """Assistant messages answering `user_message_id`, oldest first."""
        limit = _PAGE
        while True:
            page = await self._messages(session_id, limit)
            ids = [m["info"]["id"] for m in page]
            # Messages sort by id; once the user message is in the page, we have them all.
            if user_message_id in ids or len(page) < limit:
                return [
                    m
                    for m in page
                    if m["info"]["role"] == "assistant"
                    and m["info"].get("parentID") == user_message_id
                ]
            limit *= 2


def _turn_result(session_id: str, last: dict[str, Any], steps: list[dict[str, Any]]) -> TurnResult:
    info = last["info"]
    text = _text_parts(last)
    calls = tuple(
        ToolCallRecord(
            tool=p["tool"],
            input=p["state"].get("input") or {},
            status=p["state"]["status"],
            output=p["state"].get("output"),
            error=p["state"].get("error"),
        )
        for m in steps
        for p in m["parts"]
        if p["type"] == "tool"
    )
    error = None
    if raw := info.get("error"):
        data = raw.get("data") or {}
        error = TurnError(
            name=raw.get("name", "UnknownError"), message=str(data.get("message", ""))
        )
    tokens = info.get("tokens") or {}
    return TurnResult(
        session_id=session_id,
        message_id=info["id"],
        text=text,
        tool_calls=calls,
        error=error,
        finish=info.get("finish"),
        tokens_input=int(tokens.get("input", 0)),
        tokens_output=int(tokens.get("output", 0)),
    )


def _text_parts(message: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message["parts"] if p["type"] == "text")
