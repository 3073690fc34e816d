"""A local fake of Slack's cloud: the Web API and the Socket Mode websocket.

It speaks the real wire protocol, so slack-bolt and slack_sdk run unmodified
against it: point a client at `fake.api_url` (`http://127.0.0.1:P/api/`).
Tests drive it from the people's side (`send_message`, `click`, …) and read
what the bot did (`posts`, `wait_for_post`, `acked`).

Like Slack, it echoes the bot's own posts back as message events (the bot
must ignore them), sends both a `message` and an `app_mention` event for a
channel message that mentions the bot, and re-sends an envelope with
`retry_attempt` > 0 on request. On request it also answers a Web API method
with HTTP 429 `ratelimited` and a `Retry-After` header (`rate_limit`), or
drops the connection without an answer (`drop_connection`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM_ID = "TFAKE"
APP_ID = "AFAKE"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"


@dataclass
class Post:
    """Something the bot did in a channel: a post, an update or an upload."""

    kind: str  # "post" | "update" | "upload"
    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    file_name: str | None = None
    file_bytes: bytes | None = None
    title: str | None = None


@dataclass
class _Upload:
    filename: str
    length: int
    data: bytes | None = None


@dataclass
class FakeSlack:
    host: str = "127.0.0.1"
    echo_bot_posts: bool = True
    port: int = 0
    api_calls: list[str] = field(default_factory=list)
    sent_envelopes: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0  # websockets accepted so far
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    _posts: list[Post] = field(default_factory=list)
    _messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _uploads: dict[str, _Upload] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _echoes: set[asyncio.Task[str]] = field(default_factory=set)
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _ts_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _limited: dict[str, tuple[int, int]] = field(default_factory=dict)  # method -> (times, s)
    _dropped: dict[str, int] = field(default_factory=dict)  # method -> times

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/upload/{file_id}", self._upload_bytes)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for task in list(self._echoes):
            task.cancel()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/"

    # ---- what the bot did -------------------------------------------------

    def posts(self, channel: str | None = None) -> list[Post]:
        return [p for p in self._posts if channel is None or p.channel == channel]

    async def wait_for_post(self, predicate: Callable[[Post], bool], timeout: float = 5.0) -> Post:
        return await self._wait(
            lambda: next((p for p in self._posts if predicate(p)), None), timeout
        )

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self._wait(lambda: self.acked.get(envelope_id), timeout)

    async def wait_connected(self, timeout: float = 5.0) -> None:
        await self._wait(lambda: self._sockets[-1] if self._sockets else None, timeout)

    async def _wait(self, find: Callable[[], Any], timeout: float) -> Any:
        assert self._changed is not None
        async with asyncio.timeout(timeout), self._changed:
            while (found := find()) is None:
                await self._changed.wait()
            return found

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # ---- Slack's refusals ------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after_s: int = 1) -> None:
        """The next `times` calls of `method` get HTTP 429 `ratelimited`, `Retry-After` set."""
        self._limited[method] = (times, retry_after_s)

    def drop_connection(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` see the connection closed before any answer."""
        self._dropped[method] = times

    def _refusal(self, request: web.Request, method: str) -> web.Response | None:
        if self._dropped.get(method, 0) > 0:
            self._dropped[method] -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        times, retry_after_s = self._limited.get(method, (0, 0))
        if times > 0:
            self._limited[method] = (times - 1, retry_after_s)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry_after_s)},
            )
        return None

    # ---- people's side: events pushed over Socket Mode --------------------

    async def send_message(
        self,
        user: str,
        text: str,
        *,
        channel: str = "D0001",
        channel_type: str = "im",
        thread_ts: str | None = None,
    ) -> str:
        """A person writes; Slack delivers `message` (and `app_mention` if the bot is named)."""
        event = self.message_event(user, text, channel, channel_type, thread_ts)
        ts = str(event["ts"])
        await self.push_event(event)
        if f"<@{BOT_USER_ID}>" in text and channel_type != "im":
            mention = {k: v for k, v in event.items() if k not in ("channel_type", "client_msg_id")}
            await self.push_event({**mention, "type": "app_mention"})
        return ts

    def message_event(
        self, user: str, text: str, channel: str, channel_type: str, thread_ts: str | None
    ) -> dict[str, Any]:
        """The `message` event of a person's post, remembered as posted (for Socket Mode
        to push, or HTTP mode to sign and POST: `signed_request(event_callback(...))`)."""
        ts = self._next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": channel_type,
            "client_msg_id": str(uuid.uuid4()),
            "team": TEAM_ID,
            "event_ts": ts,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        self._messages[(channel, ts)] = dict(event)
        return event

    async def send_bot_message(
        self,
        text: str,
        *,
        channel: str = "C0001",
        channel_type: str = "channel",
        thread_ts: str | None = None,
        legacy: bool = False,
    ) -> str:
        """Another app posts: today's shape (its bot user and a bot_id, no subtype),
        or with `legacy` the old `bot_message` subtype without a user."""
        ts = self._next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "bot_id": "BOTHER",
            "app_id": "AOTHER",
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": channel_type,
            "event_ts": ts,
        }
        event.update({"subtype": "bot_message"} if legacy else {"user": "UOTHERBOT"})
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        await self.push_event(event)
        return ts

    async def send_own_message(
        self, text: str, *, channel: str = "D0001", channel_type: str = "im"
    ) -> str:
        """The bot's own message as Slack echoes it: the bot's user id and bot_id, no subtype."""
        ts = self._next_ts()
        await self.push_event(self._own_echo(channel, channel_type, ts, text, None))
        return ts

    async def send_edit(
        self, user: str, channel: str, ts: str, new_text: str, *, channel_type: str = "im"
    ) -> None:
        """A person edits a message (subtype `message_changed`)."""
        old = self._messages.get((channel, ts), {"user": user, "text": "", "ts": ts})
        now = self._next_ts()
        await self.push_event(
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": channel,
                "channel_type": channel_type,
                "hidden": True,
                "ts": now,
                "event_ts": now,
                "message": {**old, "text": new_text, "edited": {"user": user, "ts": now}},
                "previous_message": old,
            }
        )

    async def send_join(self, user: str, channel: str = "C0001") -> str:
        ts = self._next_ts()
        await self.push_event(
            {
                "type": "message",
                "subtype": "channel_join",
                "user": user,
                "text": f"<@{user}> has joined the channel",
                "ts": ts,
                "channel": channel,
                "channel_type": "channel",
                "event_ts": ts,
            }
        )
        return ts

    async def click(
        self, user: str, action_id: str, value: str, channel: str, message_ts: str
    ) -> str:
        """A person clicks a button on a message; returns the envelope id."""
        message = self._messages.get((channel, message_ts), {"ts": message_ts, "text": ""})
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if "thread_ts" in message:
            container["thread_ts"] = message["thread_ts"]
        payload = {
            "type": "block_actions",
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": TEAM_ID,
            },
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": f"{uuid.uuid4().int}",
            "team": {"id": TEAM_ID, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": channel.lower()},
            "message": message,
            "response_url": f"http://{self.host}:{self.port}/response/{uuid.uuid4().hex}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "actions",
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                    "text": {"type": "plain_text", "text": action_id},
                }
            ],
        }
        return await self.push_envelope("interactive", payload)

    async def request_reconnect(self, timeout: float = 10.0) -> None:
        """Slack's periodic `disconnect` (refresh_requested): returns once the client is back."""
        await self.wait_connected()
        before = self.connections
        await self._sockets[-1].send_str(
            json.dumps({"type": "disconnect", "reason": "refresh_requested"})
        )
        await self._wait(lambda: self.connections > before or None, timeout)

    def event_callback(self, event: dict[str, Any]) -> dict[str, Any]:
        """The Events API body Slack wraps an event in (Socket Mode payload and HTTP body alike)."""
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    async def push_event(self, event: dict[str, Any]) -> str:
        return await self.push_envelope("events_api", self.event_callback(event))

    async def push_envelope(
        self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> str:
        """Send one envelope over the newest socket; returns its envelope id."""
        await self.wait_connected()
        envelope: dict[str, Any] = {
            "envelope_id": str(uuid.uuid4()),
            "type": kind,
            "accepts_response_payload": False,
            "payload": payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self.sent_envelopes.append(envelope)
        await self._sockets[-1].send_str(json.dumps(envelope))
        return str(envelope["envelope_id"])

    async def resend(self, envelope_id: str, reason: str = "timeout") -> str:
        """Slack's retry: the same payload in a new envelope with the next retry_attempt."""
        old = next(e for e in self.sent_envelopes if e["envelope_id"] == envelope_id)
        return await self.push_envelope(
            old["type"],
            old["payload"],
            retry_attempt=int(old.get("retry_attempt", 0)) + 1,
            retry_reason=reason,
        )

    # ---- HTTP mode ---------------------------------------------------------

    @staticmethod
    def signed_request(
        body: dict[str, Any], secret: str = SIGNING_SECRET, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of an Events API request as Slack signs it (v0)."""
        raw = json.dumps(body).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
        return raw, {
            "content-type": "application/json",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": "v0=" + digest.hexdigest(),
        }

    # ---- server side --------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets) + 1,
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        self._sockets.append(ws)
        self.connections += 1
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    ack = json.loads(msg.data)
                    if "envelope_id" in ack:
                        self.acked[ack["envelope_id"]] = ack
                        await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.api_calls.append(method)
        if (refused := self._refusal(request, method)) is not None:
            return refused
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(await request.post())
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or args.get(
            "token", ""
        )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != wanted:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        result: dict[str, Any] = await handler(args)
        await self._notify()
        return web.json_response(result)

    async def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "mlops-agent",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    async def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://{self.host}:{self.port}/socket"}

    async def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, text = args.get("channel"), args.get("text", "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        blocks = _json_arg(args.get("blocks"))
        if not _valid_blocks(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        ts = self._next_ts()
        thread_ts = args.get("thread_ts") or None
        self._posts.append(Post("post", channel, ts, text, blocks, thread_ts))
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": text, "ts": ts}
        if blocks is not None:
            message["blocks"] = blocks
        if thread_ts:
            message["thread_ts"] = thread_ts
        self._messages[(channel, ts)] = message
        if self.echo_bot_posts and self._sockets:
            kind = "im" if channel.startswith("D") else "channel"
            # After the response, as Slack does: the echo never beats the post's own answer.
            echo = self.push_event(self._own_echo(channel, kind, ts, text, thread_ts))
            self._echoes.add(task := asyncio.get_running_loop().create_task(echo))
            task.add_done_callback(self._echoes.discard)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    async def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        if (channel, ts) not in self._messages:
            return {"ok": False, "error": "message_not_found"}
        text, blocks = args.get("text", ""), _json_arg(args.get("blocks"))
        if not _valid_blocks(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        message = self._messages[(channel, ts)]
        message.update(text=text, **({"blocks": blocks} if blocks is not None else {}))
        self._posts.append(Post("update", channel, ts, text, blocks, message.get("thread_ts")))
        return {"ok": True, "channel": channel, "ts": ts, "text": text}

    async def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{uuid.uuid4().hex[:10].upper()}"
        self._uploads[file_id] = _Upload(args["filename"], int(args["length"]))
        url = f"http://{self.host}:{self.port}/upload/{file_id}"
        return {"ok": True, "upload_url": url, "file_id": file_id}

    async def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _json_arg(args.get("files")) or []
        done = []
        for entry in files:
            upload = self._uploads.get(entry.get("id", ""))
            if upload is None or upload.data is None:
                return {"ok": False, "error": "file_not_found"}
            channel = args.get("channel_id")
            if channel:
                self._posts.append(
                    Post(
                        "upload",
                        channel,
                        self._next_ts(),
                        args.get("initial_comment", ""),
                        None,
                        args.get("thread_ts") or None,
                        upload.filename,
                        upload.data,
                        entry.get("title"),
                    )
                )
            done.append({"id": entry["id"], "name": upload.filename, "title": entry.get("title")})
        return {"ok": True, "files": done}

    async def _upload_bytes(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="no such upload")
        upload.data = await request.read()
        return web.Response(text=f"OK - {len(upload.data)}")

    def _own_echo(
        self, channel: str, channel_type: str, ts: str, text: str, thread_ts: str | None
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": channel_type,
            "team": TEAM_ID,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event


def _json_arg(value: Any) -> Any:
    """Slack takes structured arguments either as JSON or as a JSON-encoded form field."""
    if isinstance(value, str):
        return json.loads(value) if value else None
    return value


def _valid_blocks(blocks: Any) -> bool:
    """What Slack checks before it takes a post: at most 50 blocks, each within its limits
    (slack_sdk's block models carry Slack's documented limits)."""
    if blocks is None:
        return True
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    try:
        for block in blocks:
            parsed = Block.parse(block)
            if parsed is None:
                return False
            parsed.to_dict()  # raises SlackObjectFormationError over a limit
    except (SlackObjectFormationError, TypeError, KeyError, ValueError):
        return False
    return True
