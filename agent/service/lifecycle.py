"""Assemble and run the whole service: the supervisor and everything it starts.

Start order: state dir → ledger key → MLflow (embedded unless configured) →
opencode (with the skills) → database and inbox → chat bridge → turn engine
→ HTTP. Stop is the reverse. Nothing here decides what to say. The parts are
built in `agent.service.compose` (the composition root); this class owns their lifecycle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable
from typing import IO, Any

import uvicorn

from agent.chat.base import ChatBridge
from agent.children import claim_state_dir, stop_stale_children
from agent.engine.brief import BriefWatch
from agent.engine.hub import Hub
from agent.engine.routing import Routing
from agent.intake.webhook import Signers, TrainingHook
from agent.model.embedded import EmbeddedModel
from agent.model.path import ModelPath
from agent.service import compose, front
from agent.service.model_link import ModelLink
from agent.service.skills import skill_environment
from agent.settings import Settings
from agent.watch.probe import SchedulerProbe
from agent.watch.watcher import Watcher
from agent.web.bridge import WebBridge
from core.clock import Clock
from core.skill_env import LEDGER_KEY_FILE

log = logging.getLogger(__name__)


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept in the state dir."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = settings.state_dir / "webhook_secret"
    if not path.exists():
        from agent.service.setup_help import WEBHOOK_HELP
        from agent.settings import new_webhook_secret

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
        self.model = ModelLink(settings)
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

    @property
    def model_url(self) -> str:
        """The model endpoint: MLOPS_MODEL_BASE_URL, or the embedded model's once it runs."""
        return self.model.url

    @property
    def embedded(self) -> EmbeddedModel | None:
        return self.model.embedded

    @property
    def model_path(self) -> ModelPath | None:
        return self.model.path

    async def start(self) -> None:
        self._claim_state_dir()
        s = self.settings
        self.ledger = compose.open_ledger(self.state_dir, self.clock)
        await self.model.spawn()  # the embedded model loads while MLflow starts
        self.mlflow, tracking_uri = compose.start_mlflow(s, self.state_dir)
        self.env = env = skill_environment(
            s,
            tracking_uri=tracking_uri,
            service_url=self.url,
            webhook_secret=self.secret,
            ledger_key_file=self.state_dir / LEDGER_KEY_FILE,
            clock_file=self.clock.file,
        )
        prompt_file = self.state_dir / "opencode" / "prompt.md"
        self.brief = BriefWatch(s.brief_dir, s.silence_marker, prompt_file)
        model_id = await self.model.start_path()
        self.runtime = compose.open_runtime(
            s,
            prompt_file=prompt_file,
            env=env,
            brief=self.brief,
            model=self.model,
            model_id=model_id,
        )
        await self.runtime.start()

        store = await compose.open_store(self.state_dir, self.hub, self.clock)
        self.db, self.transcript, self.inbox = store.db, store.transcript, store.inbox
        self.conversations = store.conversations
        self.web = WebBridge() if s.web_enabled else None
        self.chat, notify_channel = await self._open_chat()
        # Unrouted conversations start where this chat's notify channel is (a Matrix room,
        # the web page's own channel), whatever MLOPS_NOTIFY_CHANNEL says.
        self.routing = Routing(s.load_routes(default_channel=notify_channel), self.state_dir)
        turns = compose.wire_turns(
            s,
            store=store,
            hub=self.hub,
            ledger=self.ledger,
            runtime=self.runtime,
            chat=self.chat,
            web=self.web,
            notify_channel=notify_channel,
            routing=self.routing,
            attachments=env.attachments,
        )
        self.outbox, self.approvals, self.engine = turns.outbox, turns.approvals, turns.engine
        self.chat_intake = turns.chat_intake
        self.brief.notice = self.outbox.notice  # a refused brief edit is said there, once
        await compose.start_bridges(self.chat, self.web, self.chat_intake)
        self.watch = compose.model_watch(s, self.runtime, turns, self.model_url)
        self.schedule = compose.schedule(
            s, self.inbox, self.state_dir, turns, self.routing, self.clock
        )
        self._tasks = [
            asyncio.create_task(self.engine.run(), name="turn-engine"),
            asyncio.create_task(self.watch.run(), name="model-watch"),
            asyncio.create_task(self.schedule.run(), name="schedule"),
        ]
        self.watch_probe, self.watcher, watching = await compose.start_watcher(
            s, env, self.state_dir, store, turns, self.clock
        )
        if watching is not None:
            self._tasks.append(watching)
        await self._start_http()

    def _claim_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_lock = claim_state_dir(self.state_dir)  # StateDirBusy if not ours alone
        stop_stale_children(self.state_dir)  # a killed instance's MLflow, opencode and skills
        if self.settings.web_enabled:
            from agent.web.page import with_first_operator

            # Before anything reads who may talk or approve: a fresh machine's operator.
            self._made_operator = not self.settings.web_users
            self.settings = with_first_operator(self.settings)

    async def _open_chat(self) -> tuple[ChatBridge | None, str | None]:
        """The bridge for MLOPS_CHAT, and the notify channel as that chat names it."""
        return await compose.open_chat(self.settings, self._given_chat, self.web, self.state_dir)

    async def _start_http(self) -> None:
        signers = Signers(self.secret, self.routing.routes, self.routing.base_job)
        hook = TrainingHook(
            signers, self.inbox, self.settings.webhook_max_bytes, on_accepted=self.engine.wake
        )
        slack_endpoint = None
        if self.settings.chat_kind == "slack" and self.settings.slack_mode == "http" and self.chat:
            slack_endpoint = self.chat.starlette_endpoint()  # type: ignore[attr-defined]
        self._server = front.http_server(
            self.settings, hook, self.readiness, slack_endpoint, await self._page_routes()
        )
        self._tasks.append(asyncio.create_task(self._server.serve(), name="http"))
        for _ in range(200):
            if self._server.started:
                if self.page is not None:
                    await front.announce_page(
                        self.page, self.settings, self._made_operator, self.sign_in_urls
                    )
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"HTTP server did not start on {self.url}")

    async def _page_routes(self) -> list[Any]:
        if self.web is None:
            return []
        from agent.web.page import page_routes

        self.page = await front.open_page(
            self.settings,
            db=self.db,
            hub=self.hub,
            transcript=self.transcript,
            bridge=self.web,
            ledger=self.ledger,
            attachments=self.env.attachments,
            routing=self.routing,
        )
        return page_routes(self.page)

    @property
    def people_url(self) -> str:
        """Where people reach the service: MLOPS_PUBLIC_URL, else its address on this machine."""
        return front.people_url(self.settings)

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
