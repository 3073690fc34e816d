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
from typing import IO, Any

import uvicorn

from agent.brief import BriefWatch
from agent.chat.base import ChatBridge
from agent.chat.intake import ChatIntake
from agent.chat.web import WEB_CHANNEL
from agent.chat.web.bridge import WebBridge
from agent.children import claim_state_dir, stop_stale_children
from agent.conversations import Conversations
from agent.db import Database
from agent.hub import Hub
from agent.inbox import Inbox
from agent.intake import TrainingHook
from agent.model_watch import ModelWatch
from agent.opencode.runtime import OpencodeRuntime
from agent.outbox import Outbox
from agent.routing import Routing
from agent.schedule import Schedule
from agent.settings import Settings
from agent.skills import skill_environment, skill_specs
from agent.steps import Approvals, Attachments, ProposalCards, RouteNotes, ToolAudit
from agent.transcript import Transcript
from agent.turn_log import TurnLog
from agent.turns import TurnEngine
from core.clock import Clock, parse_hhmm, parse_zone
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
    def __init__(
        self, settings: Settings, chat: ChatBridge | None = None, clock: Clock | None = None
    ) -> None:
        """`chat`: a bridge of the caller's own (e.g. the eval harness's recording bridge);
        by default the one the settings configure, if any. `clock`: what every time-based
        part reads (core.clock.Clock); by default real time, an eval's scenario clock."""
        if not (settings.model_base_url and settings.model):
            raise ValueError("MLOPS_MODEL_BASE_URL and MLOPS_MODEL must be set")
        self.settings = settings
        self._given_chat = chat
        self.model_url: str = settings.model_base_url
        self.state_dir = settings.state_dir.resolve()
        self.secret = webhook_secret(settings)
        self.mlflow: Any = None
        self._state_lock: IO[str] | None = None
        self.chat: ChatBridge | None = None
        self.web: WebBridge | None = None  # the web page's side, when it runs
        self.page: Any = None  # agent.chat.web.page.WebPage, imported only when it runs
        self.sign_in_urls: dict[str, str] = {}  # one-time web sign-in links printed at start
        self.hub = Hub()
        self.clock = clock or Clock()  # the schedule, inbox, ledger and skills read it
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_lock = claim_state_dir(self.state_dir)  # StateDirBusy if not ours alone
        stop_stale_children(self.state_dir)  # a killed instance's MLflow, opencode and skills
        if self.settings.web_enabled:
            from agent.chat.web.page import with_first_operator

            # Before anything reads who may talk or approve: a fresh machine's operator.
            self.settings = with_first_operator(self.settings)
        s = self.settings
        key_file = self.state_dir / LEDGER_KEY_FILE
        create_key(key_file)  # once; an existing key is kept
        self.ledger = Ledger.from_files(
            self.state_dir / LEDGER_FILE, key_file, clock=self.clock.now
        )

        tracking_uri = s.mlflow_tracking_uri
        if tracking_uri is None:
            from agent.mlflow_server import MlflowServer

            # Started from the loop's own thread on purpose: its parent-death signal is
            # tied to the forking thread, and a pool thread may exit before we do.
            self.mlflow = MlflowServer(self.state_dir / "mlflow", state_dir=self.state_dir).start()
            tracking_uri = self.mlflow.uri

        self.env = env = skill_environment(
            s,
            tracking_uri=tracking_uri,
            service_url=self.url,
            webhook_secret=self.secret,
            ledger_key_file=key_file,
            clock_file=self.clock.file,
        )
        prompt_file = self.state_dir / "opencode" / "prompt.md"
        self.brief = BriefWatch(s.brief_dir, s.silence_marker, prompt_file)
        self.runtime = OpencodeRuntime.from_settings(
            s, prompt_file=prompt_file, mcp_servers=skill_specs(s, env), prompt=self.brief
        )
        await self.runtime.start()

        self.db = Database(self.state_dir / "service.sqlite")
        await self.db.open()
        self.transcript = Transcript(self.db, self.hub)
        self.inbox = Inbox(self.db, self.hub, clock=self.clock.now)
        requeued = await self.inbox.start()
        if requeued:
            log.info("%d item(s) of turns cut short by the last stop are queued again", requeued)
        self.conversations = Conversations(self.db)
        self.web = WebBridge() if s.web_enabled else None
        self.chat, notify_channel = await self._open_chat()
        # Unrouted conversations start where this chat's notify channel is (a Matrix room,
        # the web page's own channel), whatever MLOPS_NOTIFY_CHANNEL says.
        self.routing = Routing(s.load_routes(default_channel=notify_channel), self.state_dir)
        self.outbox = Outbox(
            self.chat,
            self.conversations,
            notify_channel,
            mentionable=self.routing.mentionable(s.allowed_users),
            channel_for=self.routing.channel,
            transcript=self.transcript,
            page=self.web,
        )
        self.brief.notice = self.outbox.notice  # a refused brief edit is said there, once
        self.approvals = Approvals(
            self.ledger, s.confirm_phrases, s.approvers, self.routing.approvers
        )
        self.engine = TurnEngine(
            inbox=self.inbox,
            conversations=self.conversations,
            runtime=self.runtime,
            outbox=self.outbox,
            turn_log=TurnLog(self.ledger, self.db, self.hub),
            steps=[
                RouteNotes(self.routing, self.outbox.mention),
                self.approvals,
                ToolAudit(self.ledger),
                ProposalCards(self.ledger, self.db, self.outbox, s.confirm_phrases),
                Attachments(env.attachments, self.outbox),
            ],
            silence_marker=s.silence_marker,
            max_concurrent=s.max_concurrent_turns,
            turn_timeout_s=s.turn_timeout_s,
        )
        self.chat_intake = ChatIntake(
            allowed_users=s.talkers,
            inbox=self.inbox,
            conversations=self.conversations,
            proposal_conversation=self.approvals.proposal_conversation,
            wake=self.engine.wake,
        )
        if self.chat is not None:
            await self.chat.start(self.chat_intake.on_message, self.chat_intake.on_click)
        if self.web is not None and self.web is not self.chat:
            await self.web.start(self.chat_intake.on_message, self.chat_intake.on_click)
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
            routes=self.routing.routes,
            clock=self.clock.now,
        )
        self._tasks = [
            asyncio.create_task(self.engine.run(), name="turn-engine"),
            asyncio.create_task(self.watch.run(), name="model-watch"),
            asyncio.create_task(self.schedule.run(), name="schedule"),
        ]
        await self._start_http()

    async def _open_chat(self) -> tuple[ChatBridge | None, str | None]:
        """The bridge for MLOPS_CHAT, and the notify channel as that chat names it."""
        s = self.settings
        if self._given_chat is not None:
            return self._given_chat, s.notify_channel
        if s.chat_kind != "matrix":
            return self._make_chat(), WEB_CHANNEL if s.chat_kind == "web" else s.notify_channel
        from agent.chat.matrix import MatrixBridge

        assert s.matrix_homeserver and s.matrix_user_id and s.matrix_notify_room  # Settings did
        matrix = MatrixBridge(
            s.matrix_homeserver,
            s.matrix_user_id,
            notify_room=s.matrix_notify_room,
            state_dir=self.state_dir,
            access_token=s.matrix_access_token,
            password=s.matrix_password,
            allowed_users=s.allowed_users,
        )
        # An alias becomes its room id now: replies in a thread arrive naming the id.
        return matrix, await matrix.connect()

    def _make_chat(self) -> ChatBridge | None:
        """The bridge for MLOPS_CHAT; None: replies go to the log (no chat configured)."""
        s = self.settings
        if s.chat_kind == "web":
            return self.web
        if s.chat_kind != "slack" or not s.slack_bot_token:
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
        if self.settings.chat_kind == "slack" and self.settings.slack_mode == "http" and self.chat:
            slack_endpoint = self.chat.starlette_endpoint()  # type: ignore[attr-defined]
        app = build_app(hook, self.readiness, slack_endpoint, await self._page_routes())
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
                self._announce_page()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"HTTP server did not start on {self.url}")

    async def _page_routes(self) -> list[Any]:
        if self.web is None:
            return []
        from agent.chat.web.page import WebPage, page_routes

        self.page = WebPage(
            settings=self.settings,
            db=self.db,
            hub=self.hub,
            transcript=self.transcript,
            bridge=self.web,
            ledger=self.ledger,
            attachments=self.env.attachments,
            base_url=self.people_url,
        )
        await self.page.open()
        return page_routes(self.page)

    def _announce_page(self) -> None:
        if self.page is None:
            return
        from agent.chat.web.page import exposure_warning

        if warning := exposure_warning(self.settings.host):
            log.warning(warning)
        log.info("web page: %s", self.people_url)
        self.sign_in_urls = self.page.sign_in_links()
        for name, url in self.sign_in_urls.items():
            # Like a notebook server: the one way in for a user with no password yet.
            log.warning("web page: sign in as %r with this one-time link: %s", name, url)

    @property
    def people_url(self) -> str:
        """The service's address for a browser on this machine."""
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{self.settings.port}"

    async def readiness(self) -> dict[str, bool]:
        return {
            "opencode": await self.runtime.ready(),
            "model": await self.runtime.model_reachable(),
        }

    async def stop(self) -> None:
        """Stop in reverse order; each step is bounded so one stuck part cannot hang the rest."""
        self.hub.close()  # the page's open live-update streams end: the server can stop
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
        if self._state_lock is not None:
            self._state_lock.close()

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
            # Operators (and the container test) read these two lines as a clean stop.
            log.info("stopping: turns in flight go back to the queue")
            began = loop.time()
            await self.stop()
            log.info("mlops-agent stopped in %.1f s", loop.time() - began)


async def _bounded(name: str, step: Awaitable[Any], timeout_s: float = 15.0) -> None:
    try:
        await asyncio.wait_for(step, timeout_s)
    except TimeoutError:
        log.error("stopping %s took longer than %.0f s; going on", name, timeout_s)
    except Exception:
        log.exception("stopping %s failed; going on", name)
