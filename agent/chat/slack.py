"""The Slack bridge: slack-bolt's AsyncApp over Socket Mode (default) or HTTP.

Every handler acks at once and hands the message to the service in a
background task, so a slow turn never makes Slack retry. What reaches the
service is a person talking to the bot: a DM, an @mention, or a reply in a
channel thread. Bot messages, the bot's own echoes, edits, joins and Slack's
retries are dropped here; the allowlist is the service's job.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container, Coroutine, Hashable
from pathlib import Path
from typing import Any, Literal

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from agent.chat.base import ButtonClick, ClickHandler, IncomingMessage, MessageHandler
from agent.chat.card import Card
from agent.chat.mrkdwn import MAX_CHARS, split_message, to_mrkdwn
from agent.chat.slack_blocks import card_blocks
from agent.chat.slack_safety import safe_text

log = logging.getLogger(__name__)

# Subtypes that are still a person writing: a thread reply also sent to the
# channel, and a message with a file attached. Every other subtype is not.
_PERSON_SUBTYPES = frozenset({"thread_broadcast", "file_share"})
_SEEN_LIMIT = 10_000
_DRAIN_S = 5.0
# A channel takes about one post per second; a burst (a storm of events, the digest)
# is answered with HTTP 429 and Retry-After. Waiting as told and sending again is
# what Slack asks for: failing instead would put the turn back and pay the model twice.
RATE_LIMIT_RETRIES = 5
CONNECTION_RETRIES = 3


class SlackBridgeError(Exception):
    """Slack refused a call or the bridge is misconfigured; the message says which."""


def incoming_message(event: dict[str, Any], bot_user_id: str) -> IncomingMessage | None:
    """The person's message in a `message` or `app_mention` event, or None if it is not one."""
    kind, user = event.get("type"), event.get("user")
    if kind not in ("message", "app_mention") or "bot_id" in event:
        return None
    if event.get("subtype") not in (None, *_PERSON_SUBTYPES):
        return None
    if not user or user == bot_user_id or not event.get("channel") or not event.get("ts"):
        return None
    ts, thread_ts = str(event["ts"]), event.get("thread_ts")
    is_dm = event.get("channel_type") == "im"
    is_thread_reply = thread_ts is not None and thread_ts != ts
    if kind == "message" and not is_dm and not is_thread_reply:
        return None  # channel chatter not addressed to the bot
    text = str(event.get("text") or "").replace(f"<@{bot_user_id}>", "").strip()
    return IncomingMessage(
        channel=str(event["channel"]),
        ts=ts,
        user=str(user),
        text=text,
        thread_ts=str(thread_ts) if thread_ts else None,
        is_dm=is_dm,
    )


def button_clicks(body: dict[str, Any]) -> list[ButtonClick]:
    """The button clicks in a `block_actions` payload."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    thread_ts = container.get("thread_ts") or message.get("thread_ts")
    return [
        ButtonClick(
            action_id=str(action.get("action_id", "")),
            value=str(action.get("value", "")),
            user=str((body.get("user") or {}).get("id", "")),
            channel=str(channel),
            message_ts=str(container.get("message_ts") or message.get("ts", "")),
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        for action in body.get("actions") or []
        if action.get("type") == "button"
    ]


class SlackBridge:
    """A `ChatBridge` for Slack. `api_url` None means Slack itself."""

    def __init__(
        self,
        bot_token: str,
        app_token: str | None = None,
        signing_secret: str | None = None,
        *,
        api_url: str | None = None,
        mode: Literal["socket", "http"] = "socket",
    ) -> None:
        if mode not in ("socket", "http"):
            raise SlackBridgeError(f"unknown Slack mode {mode!r}; use 'socket' or 'http'")
        if mode == "socket" and not app_token:
            raise SlackBridgeError("Socket Mode needs SLACK_APP_TOKEN (an xapp-… app-level token)")
        if mode == "http" and not signing_secret:
            raise SlackBridgeError(
                "HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests"
            )
        self.mode = mode
        self._app_token = app_token or ""
        self._signing_secret = signing_secret or ""
        base_url = api_url.rstrip("/") + "/" if api_url else AsyncWebClient.BASE_URL
        self._client = AsyncWebClient(
            token=bot_token, base_url=base_url, retry_handlers=retry_handlers()
        )
        self._bot_user_id: str | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._http: AsyncSlackRequestHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    @property
    def bot_user_id(self) -> str:
        """The bot's own Slack user id (known once started)."""
        if self._bot_user_id is None:
            raise SlackBridgeError("the Slack bridge is not started yet")
        return self._bot_user_id

    async def start(self, on_message: MessageHandler, on_click: ClickHandler) -> None:
        auth = await self._call("auth.test", self._client.auth_test())
        self._bot_user_id = str(auth["user_id"])
        app = AsyncApp(
            client=self._client,
            signing_secret=self._signing_secret,
            request_verification_enabled=self.mode == "http",
            logger=log,
        )

        async def on_event(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            message = incoming_message(body.get("event") or {}, self.bot_user_id)
            # (channel, ts) is one message however Slack sends it: a retry,
            # or the `message` and `app_mention` events for the same post.
            if message is not None and self._first_time((message.channel, message.ts)):
                self._spawn(on_message(message))

        async def on_action(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            for click in button_clicks(body):
                action_ts = next(
                    (a.get("action_ts") for a in body.get("actions", [])), click.message_ts
                )
                if self._first_time(("click", click.user, click.action_id, action_ts)):
                    self._spawn(on_click(click))

        app.event("message")(on_event)
        app.event("app_mention")(on_event)
        app.action(re.compile(".*"))(on_action)
        # Anything else the app is subscribed to is acked and dropped: an
        # unacked envelope would come back as a retry.
        app.event(re.compile(".*"))(_ack_only)
        app.view(re.compile(".*"))(_ack_only)
        app.shortcut(re.compile(".*"))(_ack_only)

        if self.mode == "http":
            self._http = AsyncSlackRequestHandler(app)
            return
        # Open the first connection here so a bad app token fails now with its
        # name; the SDK's own connect loop would retry it forever.
        opened = await self._call(
            "apps.connections.open", self._client.apps_connections_open(app_token=self._app_token)
        )
        self._socket = AsyncSocketModeHandler(app, self._app_token, web_client=self._client)
        self._socket.client.wss_uri = str(opened["url"])
        await self._socket.connect_async()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        self._http = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=_DRAIN_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def starlette_endpoint(self) -> Callable[[Request], Awaitable[Response]]:
        """The HTTP-mode handler for `POST /slack/events`: it only hands the request to Bolt,
        which verifies Slack's signature (401 if bad) and acks."""

        async def endpoint(request: Request) -> Response:
            if self._http is None:
                return PlainTextResponse("Slack bridge not started in HTTP mode", status_code=503)
            return await self._http.handle(request)

        return endpoint

    def starlette_route(self, path: str = "/slack/events") -> Route:
        """`starlette_endpoint()` as a ready-made route."""
        return Route(path, self.starlette_endpoint(), methods=["POST"])

    async def post(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        card: Card | None = None,
    ) -> str:
        """Post Markdown as mrkdwn, split into several messages if long; returns the first ts.

        A card is one message: Slack shows its blocks and uses the text only as the
        notification fallback, cut short.
        """
        mrkdwn = to_mrkdwn(text)
        chunks = [_shorten(mrkdwn)] if card is not None else split_message(mrkdwn)
        blocks = card_blocks(card) if card is not None else None
        first_ts: str | None = None
        for chunk in chunks:
            sent = await self._call(
                "chat.postMessage",
                self._client.chat_postMessage(
                    channel=channel,
                    text=chunk,
                    thread_ts=thread_ts,
                    blocks=blocks if first_ts is None else None,
                ),
            )
            first_ts = first_ts or str(sent["ts"])
        assert first_ts is not None
        return first_ts

    async def update(self, channel: str, ts: str, text: str, *, card: Card | None = None) -> None:
        await self._call(
            "chat.update",
            self._client.chat_update(
                channel=channel,
                ts=ts,
                text=_shorten(to_mrkdwn(text)),
                blocks=card_blocks(card) if card is not None else None,
            ),
        )

    def mention(self, user: str) -> str:
        return f"<@{user}>"

    def safe(self, text: str, mentionable: Container[str]) -> str:
        """Slack's broadcast tokens as words, `<@U…>` kept only for people we may mention."""
        return safe_text(text, mentionable)

    async def upload(
        self, channel: str, path: Path, *, thread_ts: str | None = None, title: str | None = None
    ) -> None:
        if not path.is_file():
            raise SlackBridgeError(f"cannot upload {path}: no such file")
        await self._call(
            "files.upload",
            self._client.files_upload_v2(
                channel=channel,
                file=str(path),
                filename=path.name,
                title=title or path.name,
                thread_ts=thread_ts,
            ),
        )

    async def _call(self, method: str, call: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            hint = " (check SLACK_BOT_TOKEN / SLACK_APP_TOKEN)" if error == "invalid_auth" else ""
            raise SlackBridgeError(f"Slack {method} failed: {error}{hint}") from exc

    def _first_time(self, key: Hashable) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(_logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def retry_handlers() -> list[AsyncRetryHandler]:
    """slack_sdk's own retries: Retry-After on 429, and a dropped or reset connection."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
        AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
    ]


async def _ack_only(ack: AsyncAck) -> None:
    await ack()


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        log.exception("the service failed to handle a Slack message or click")


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
