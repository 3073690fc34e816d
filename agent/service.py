"""Assemble and run the whole service: the supervisor and everything it starts.

Start order: state dir → ledger key → MLflow (embedded unless configured) →
opencode (with the skills) → database and inbox → chat bridge → turn engine
→ HTTP. Stop is the reverse. Nothing here decides what to say.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import uvicorn

from agent.brief import build_prompt
from agent.chat.base import ChatBridge
from agent.chat.intake import ChatIntake
from agent.conversations import Conversations
from agent.db import Database
from agent.gate import Gate
from agent.inbox import Inbox
from agent.intake import TrainingHook
from agent.model_watch import ModelWatch
from agent.opencode.runtime import OpencodeRuntime
from agent.outbox import Outbox
from agent.schedule import Schedule
from agent.settings import Settings
from agent.skills import skill_environment, skill_specs
from agent.turns import TurnEngine
from core.clock import parse_hhmm, parse_zone
from core.ledger import Ledger, create_key
from core.skill_env import LEDGER_FILE, LEDGER_KEY_FILE

log = logging.getLogger(__name__)


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept in the state dir."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = settings.state_dir / "webhook_secret"
    if not path.exists():
        from agent.settings import new_webhook_secret

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new_webhook_secret())
        path.chmod(0o600)
        from agent.setup_help import WEBHOOK_HELP

        log.warning(WEBHOOK_HELP.format(path=path))
    return path.read_text().strip()


class Service:
    def __init__(self, settings: Settings, chat: ChatBridge | None = None) -> None:
        """`chat`: a bridge of the caller's own (e.g. the eval harness's recording bridge);
        by default the one the settings configure, if any."""
        if not (settings.model_base_url and settings.model):
            raise ValueError("MLOPS_MODEL_BASE_URL and MLOPS_MODEL must be set")
        self.settings = settings
        self._given_chat = chat
        self.model_url: str = settings.model_base_url
        self.state_dir = settings.state_dir.resolve()
        self.secret = webhook_secret(settings)
        self.mlflow: Any = None
        self.chat: ChatBridge | None = None
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    async def start(self) -> None:
        s = self.settings
        self.state_dir.mkdir(parents=True, exist_ok=True)
        key_file = self.state_dir / LEDGER_KEY_FILE
        create_key(key_file)  # once; an existing key is kept
        self.ledger = Ledger.from_files(self.state_dir / LEDGER_FILE, key_file)

        tracking_uri = s.mlflow_tracking_uri
        if tracking_uri is None:
            from agent.mlflow_server import MlflowServer

            # Started from the loop's own thread on purpose: its parent-death signal is
            # tied to the forking thread, and a pool thread may exit before we do.
            self.mlflow = MlflowServer(self.state_dir / "mlflow").start()
            tracking_uri = self.mlflow.uri

        env = skill_environment(
            s,
            tracking_uri=tracking_uri,
            service_url=self.url,
            webhook_secret=self.secret,
            ledger_key_file=key_file,
        )
        prompt_file = self.state_dir / "opencode" / "prompt.md"
        prompt_file.parent.mkdir(parents=True, exist_ok=True)
        prompt_file.write_text(build_prompt(s.brief_dir, s.silence_marker))
        self.runtime = OpencodeRuntime.from_settings(
            s, prompt_file=prompt_file, mcp_servers=skill_specs(s, env)
        )
        await self.runtime.start()

        self.db = Database(self.state_dir / "service.sqlite")
        await self.db.open()
        self.inbox = Inbox(self.db)
        await self.inbox.start()
        self.conversations = Conversations(self.db)
        self.chat = self._make_chat()
        self.outbox = Outbox(self.chat, self.conversations, s.notify_channel)
        self.gate = Gate(self.ledger, self.db, self.outbox, s.confirm_phrases, s.allowed_users)
        self.engine = TurnEngine(
            db=self.db,
            inbox=self.inbox,
            conversations=self.conversations,
            runtime=self.runtime,
            outbox=self.outbox,
            record_turn=self.gate.record_turn,
            silence_marker=s.silence_marker,
            max_concurrent=s.max_concurrent_turns,
            turn_timeout_s=s.turn_timeout_s,
            before_turn=[self.gate.before_turn],
            after_turn=[self.gate.after_turn, self._upload_attachments],
        )
        self.chat_intake = ChatIntake(
            allowed_users=s.allowed_users,
            inbox=self.inbox,
            conversations=self.conversations,
            proposal_conversation=self.gate.proposal_conversation,
            wake=self.engine.wake,
        )
        if self.chat is not None:
            await self.chat.start(self.chat_intake.on_message, self.chat_intake.on_click)
        self.watch = ModelWatch(
            reachable=self.runtime.model_reachable,
            notice=self.outbox.notice,
            engine=self.engine,
            grace_s=s.model_down_grace_s,
            endpoint=self.model_url,
            interval_s=s.model_check_interval_s,
        )
        self.schedule = Schedule(
            self.inbox,
            self.state_dir,
            self.engine.wake,
            tick_interval_s=s.tick_interval_s,
            digest_at=parse_hhmm(s.digest_time, "MLOPS_DIGEST_TIME") if s.digest_time else None,
            zone=parse_zone(s.timezone),
            poll_s=min(30.0, s.tick_interval_s or 30.0),
        )
        self._tasks = [
            asyncio.create_task(self.engine.run(), name="turn-engine"),
            asyncio.create_task(self.watch.run(), name="model-watch"),
            asyncio.create_task(self.schedule.run(), name="schedule"),
        ]
        await self._start_http()

    def _make_chat(self) -> ChatBridge | None:
        if self._given_chat is not None:
            return self._given_chat
        s = self.settings
        if not s.slack_bot_token:
            return None
        from agent.chat.slack import SlackBridge

        return SlackBridge(
            bot_token=s.slack_bot_token,
            app_token=s.slack_app_token,
            signing_secret=s.slack_signing_secret,
            api_url=s.slack_api_url,
            mode=s.slack_mode,
        )

    async def _start_http(self) -> None:
        from agent.app import build_app

        hook = TrainingHook(
            self.secret, self.inbox, self.settings.webhook_max_bytes, on_accepted=self.engine.wake
        )
        slack_endpoint = None
        if self.chat is not None and self.settings.slack_mode == "http":
            slack_endpoint = self.chat.starlette_endpoint()  # type: ignore[attr-defined]
        app = build_app(hook, self.readiness, slack_endpoint)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve(), name="http"))
        for _ in range(200):
            if self._server.started:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"HTTP server did not start on {self.url}")

    async def readiness(self) -> dict[str, bool]:
        return {
            "opencode": await self.runtime.ready(),
            "model": await self.runtime.model_reachable(),
        }

    async def _upload_attachments(self, ctx: Any) -> None:
        """Upload images the tools wrote (e.g. a metric plot) into the conversation's thread."""
        attachments = self.state_dir / "attachments"
        for call in getattr(ctx.result, "tool_calls", None) or []:
            path = _attachment_path(call.output)
            if path is None:
                continue
            resolved = Path(path).resolve()
            # Only files a skill wrote into the attachments dir: never an arbitrary path.
            if resolved.is_relative_to(attachments.resolve()) and resolved.is_file():
                await self.outbox.upload(ctx.conversation, resolved, title=resolved.name)

    async def stop(self) -> None:
        """Stop in reverse order; each step is bounded so one stuck part cannot hang the rest."""
        if self._server is not None:
            # Let uvicorn finish on its own so it closes its listening socket: a
            # cancelled serve() keeps the port bound for the rest of the process.
            self._server.should_exit = True
            http = [t for t in self._tasks if t.get_name() == "http"]
            await _bounded("http server", asyncio.gather(*http, return_exceptions=True), 5.0)
        await _bounded("turn engine", self.engine.stop())
        for task in self._tasks:
            task.cancel()
        await _bounded("tasks", asyncio.gather(*self._tasks, return_exceptions=True))
        if self.chat is not None:
            await _bounded("chat bridge", self.chat.stop())
        await _bounded("inbox", self.inbox.stop())
        await _bounded("opencode", self.runtime.stop())
        await _bounded("database", self.db.close())
        if self.mlflow is not None:
            await _bounded("mlflow", asyncio.to_thread(self.mlflow.stop))

    async def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly (turns in flight are re-delivered)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        log.info("mlops-agent listening on %s", self.url)
        try:
            await stop.wait()
        finally:
            await self.stop()


async def _bounded(name: str, step: Awaitable[Any], timeout_s: float = 15.0) -> None:
    try:
        await asyncio.wait_for(step, timeout_s)
    except TimeoutError:
        log.error("stopping %s took longer than %.0f s; going on", name, timeout_s)
    except Exception:
        log.exception("stopping %s failed; going on", name)


def _attachment_path(output: Any) -> str | None:
    import json

    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            return None
    if isinstance(output, dict):
        value = output.get("attachment_path")
        return value if isinstance(value, str) else None
    return None
