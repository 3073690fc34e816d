"""Assemble and run the whole service: the supervisor and everything it starts.

Start order: state dir → ledger key → MLflow (embedded unless configured) →
opencode (with the skills) → database and inbox → chat bridge → turn engine
→ HTTP. Stop is the reverse. Nothing here decides what to say.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable
from typing import IO, Any

import httpx
import uvicorn

from agent.chat.base import ChatBridge
from agent.children import claim_state_dir, stop_stale_children
from agent.engine.brief import BriefWatch
from agent.engine.conversations import Conversations
from agent.engine.db import Database
from agent.engine.hub import Hub
from agent.engine.inbox import Inbox
from agent.engine.outbox import Outbox
from agent.engine.routing import Routing
from agent.engine.schedule import Schedule
from agent.engine.steps import Approvals, Attachments, ProposalCards, RouteNotes, ToolAudit
from agent.engine.transcript import Transcript
from agent.engine.turn_log import TurnLog
from agent.engine.turns import TurnEngine
from agent.intake.chat import ChatIntake
from agent.intake.webhook import Signers, TrainingHook
from agent.model.embedded import EmbeddedModel
from agent.model.path import ModelPath
from agent.model_watch import ModelWatch
from agent.opencode.runtime import OpencodeRuntime
from agent.settings import Settings
from agent.skills import skill_environment, skill_specs
from agent.watch.facts import WatchConfig
from agent.watch.probe import SchedulerProbe
from agent.watch.watcher import Watcher
from agent.web import WEB_CHANNEL
from agent.web.bridge import WebBridge
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
        from agent.setup_help import WEBHOOK_HELP

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Created readable by its owner only, never for a moment by anyone else.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made just now by another start: read theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(new_webhook_secret())
            log.warning(WEBHOOK_HELP.format(path=path))
    return path.read_text().strip()


class Service:
    def __init__(
        self, settings: Settings, chat: ChatBridge | None = None, clock: Clock | None = None
    ) -> None:
        """`chat`: a bridge of the caller's own (e.g. the eval harness's recording bridge);
        by default the one the settings configure, if any. `clock`: what every time-based
        part reads (core.clock.Clock); by default real time, an eval's scenario clock."""
        if settings.model_base_url and not settings.model:
            raise ValueError("MLOPS_MODEL must name the model served at MLOPS_MODEL_BASE_URL")
        self.settings = settings
        self._given_chat = chat
        # The model endpoint: MLOPS_MODEL_BASE_URL, or the embedded model's once it runs.
        self.model_url: str = settings.model_base_url or "(the embedded model)"
        self.embedded: EmbeddedModel | None = None
        self.model_path: ModelPath | None = None
        self.state_dir = settings.state_dir.resolve()
        self.secret = webhook_secret(settings)
        self.mlflow: Any = None
        self._state_lock: IO[str] | None = None
        self.chat: ChatBridge | None = None
        self.web: WebBridge | None = None  # the web page's side, when it runs
        self.page: Any = None  # agent.web.page.WebPage, imported only when it runs
        self.sign_in_urls: dict[str, str] = {}  # the one-time web sign-in link printed at start
        self._made_operator = False
        self.hub = Hub()
        self.clock = clock or Clock()  # the schedule, inbox, ledger and skills read it
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.watch_probe: SchedulerProbe | None = None
        self.watcher: Watcher | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_lock = claim_state_dir(self.state_dir)  # StateDirBusy if not ours alone
        stop_stale_children(self.state_dir)  # a killed instance's MLflow, opencode and skills
        if self.settings.web_enabled:
            from agent.web.page import with_first_operator

            # Before anything reads who may talk or approve: a fresh machine's operator.
            self._made_operator = not self.settings.web_users
            self.settings = with_first_operator(self.settings)
        s = self.settings
        key_file = self.state_dir / LEDGER_KEY_FILE
        create_key(key_file)  # once; an existing key is kept
        self.ledger = Ledger.from_files(
            self.state_dir / LEDGER_FILE, key_file, clock=self.clock.now
        )

        self.embedded = EmbeddedModel.from_settings(s)
        if self.embedded is not None:
            await self.embedded.spawn()  # it loads while MLflow starts

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
        model_id = await self._start_model_path()
        assert self.model_path is not None
        self.runtime = OpencodeRuntime.from_settings(
            s,
            prompt_file=prompt_file,
            mcp_servers=skill_specs(env),
            prompt=self.brief,
            model_url=self.model_path.url,
            model_id=model_id,
            # The embedded model reads the prompt's fixed part (~3,200 tokens: minutes on a
            # CPU) after each start, not in the first turn; a remote server sees no extra request.
            on_prompt=self._prefill if self.embedded is not None else None,
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
            self.ledger, s.confirm_phrases, s.approvers, self.routing.deciders
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
            max_concurrent=s.resolved_max_concurrent_turns,
            turn_timeout_s=s.resolved_turn_timeout_s,
        )
        self.chat_intake = ChatIntake(
            allowed_users=s.talkers,
            inbox=self.inbox,
            conversations=self.conversations,
            proposal_conversation=self.approvals.proposal_conversation,
            wake=self.engine.wake,
            shared_channels=self.routing.channels(),
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
        await self._start_watcher()
        await self._start_http()

    async def _start_model_path(self) -> str:
        """The embedded model ready (when it is the one), and the model path in front of the
        endpoint; returns the model id opencode asks for."""
        s = self.settings
        if self.embedded is not None:
            await self.embedded.ready()
            self.model_url, model_id = self.embedded.url, self.embedded.model_id
        else:
            assert s.model
            model_id = s.model
        self.model_path = ModelPath(
            self.model_url,
            api_key=s.model_api_key,
            repair_tool_text=s.repair_tool_text,
            read_timeout_s=s.resolved_turn_timeout_s + 60.0,
        )
        await self.model_path.start()
        return model_id

    async def _prefill(self, body: dict[str, Any]) -> None:
        """One request with every turn's system prompt and tools, and one output token: the
        model's prompt cache holds them when the first turn comes."""
        assert self.model_path is not None and self.embedded is not None
        request = {
            **body,
            "model": self.embedded.model_id,
            "messages": [m for m in body.get("messages", []) if m.get("role") == "system"]
            + [{"role": "user", "content": "."}],
            "stream": False,
            "max_tokens": 1,
        }
        request.pop("stream_options", None)
        began = time.monotonic()
        timeout = httpx.Timeout(self.settings.resolved_turn_timeout_s, connect=5.0)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                response = await http.post(f"{self.model_path.url}/chat/completions", json=request)
        except httpx.HTTPError as exc:
            log.warning("the embedded model did not read the prompt ahead (%r)", exc)
            return
        log.info(
            "the embedded model read the prompt ahead of the first turn in %.0f s (%s)",
            time.monotonic() - began,
            response.status_code,
        )

    async def _start_watcher(self) -> None:
        """The aiqu watch process (always: it also starts jobs queued by `mlops-agent
        submit`) and, unless MLOPS_WATCH_INTERVAL_S is off, the passes over it."""
        s = self.settings
        self.watch_probe = SchedulerProbe(self.env.to_env(), self.state_dir)
        try:
            await self.watch_probe.start()
        except OSError as exc:
            log.error("the scheduler watch process did not start: %s", exc)
        self.watcher = Watcher(
            self.inbox,
            self.db,
            self.watch_probe,
            WatchConfig(s.watch_grace_s, s.silence_factor, s.silence_min_s),
            wake=self.engine.wake,
            interval_s=s.watch_interval_s,
            globs=s.watch_jobs,
            clock=self.clock.now,  # virtual in an eval: silences and grace on scenario time
        )
        if s.watch_interval_s:
            self._tasks.append(asyncio.create_task(self.watcher.run(), name="scheduler-watch"))

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

        signers = Signers(self.secret, self.routing.routes, self.routing.base_job)
        hook = TrainingHook(
            signers, self.inbox, self.settings.webhook_max_bytes, on_accepted=self.engine.wake
        )
        slack_endpoint = None
        if self.settings.chat_kind == "slack" and self.settings.slack_mode == "http" and self.chat:
            slack_endpoint = self.chat.starlette_endpoint()  # type: ignore[attr-defined]
        app = build_app(
            hook,
            self.readiness,
            slack_endpoint,
            await self._page_routes(),
            trusted_proxies=self.settings.trusted_proxies,
        )
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            # Forwarding headers are believed only from MLOPS_TRUSTED_PROXIES (build_app),
            # not from uvicorn's default of 127.0.0.1.
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve(), name="http"))
        for _ in range(200):
            if self._server.started:
                await self._announce_page()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"HTTP server did not start on {self.url}")

    async def _page_routes(self) -> list[Any]:
        if self.web is None:
            return []
        from agent.web.page import WebPage, page_routes

        self.page = WebPage(
            settings=self.settings,
            db=self.db,
            hub=self.hub,
            transcript=self.transcript,
            bridge=self.web,
            ledger=self.ledger,
            attachments=self.env.attachments,
            base_url=self.people_url,
            routing=self.routing,
        )
        await self.page.open()
        return page_routes(self.page)

    async def _announce_page(self) -> None:
        if self.page is None:
            return
        from agent.web.accounts import OPERATOR
        from agent.web.page import exposure_warning

        if not self.people_url.startswith("https://") and (
            warning := exposure_warning(self.settings.host)
        ):
            log.warning(warning)
        log.info("web page: %s", self.people_url)
        if self._made_operator:
            # Like a notebook server, once: the way in for the operator this start created.
            # Printed, not logged: a sign-in secret has no business in a log collector.
            url = self.sign_in_urls[OPERATOR] = await self.page.sign_in_link(OPERATOR)
            print(f"web page: sign in as {OPERATOR!r} with this one-time link: {url}", flush=True)
        for name, user in self.page.users.items():
            if user.password is None and not (self._made_operator and name == OPERATOR):
                log.info(
                    "web page: %r signs in by one-time link: `mlops-agent web-user %s --link`"
                    " prints a new one",
                    name,
                    name,
                )

    @property
    def people_url(self) -> str:
        """Where people reach the service: MLOPS_PUBLIC_URL, else its address on this machine."""
        if self.settings.public_url:
            return self.settings.public_url
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
        if self.watch_probe is not None:
            await _bounded("scheduler watch", self.watch_probe.stop())
        await _bounded("inbox", self.inbox.stop())
        await _bounded("opencode", self.runtime.stop())
        if self.model_path is not None:
            await _bounded("model path", self.model_path.stop())
        if self.embedded is not None:
            await _bounded("embedded model", self.embedded.stop())
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
