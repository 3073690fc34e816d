"""The composition root: each part of the service built from the settings and the parts it
needs. `agent.service.Service` calls these in its start order and owns the lifecycle (start,
stop, the tasks); nothing here starts a loop or decides what to say.

The parts, in the order a turn meets them: the ledger and MLflow (the skills' record),
opencode with the skills, the chat bridge, the turn engine with its outbox and steps, the
chat intake, and beside them the model watch, the schedule and the scheduler watcher.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.chat.base import ChatBridge
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
from agent.opencode.client import ModelRef
from agent.opencode.config import PROVIDER_ID, build_config
from agent.opencode.runtime import DEFAULT_BINARY, OpencodeRuntime
from agent.service.model_link import ModelLink
from agent.service.model_watch import ModelWatch
from agent.service.skills import skill_specs
from agent.settings import Settings
from agent.watch.facts import WatchConfig
from agent.watch.probe import SchedulerProbe
from agent.watch.watcher import Watcher
from agent.web import WEB_CHANNEL
from agent.web.bridge import WebBridge
from core.clock import Clock, parse_hhmm, parse_zone
from core.ledger import Ledger, create_key
from core.skill_env import LEDGER_FILE, LEDGER_KEY_FILE, SkillEnvironment

log = logging.getLogger("agent.service")  # the service's own lines, as before the split


def open_ledger(state_dir: Path, clock: Clock) -> Ledger:
    key_file = state_dir / LEDGER_KEY_FILE
    create_key(key_file)  # once; an existing key is kept
    return Ledger.from_files(state_dir / LEDGER_FILE, key_file, clock=clock.now)


def start_mlflow(settings: Settings, state_dir: Path) -> tuple[Any, str]:
    """MLflow's server (None when MLOPS_MLFLOW_TRACKING_URI names one) and its URI."""
    if settings.mlflow_tracking_uri is not None:
        return None, settings.mlflow_tracking_uri
    from agent.service.mlflow_server import MlflowServer

    # Started from the loop's own thread on purpose: its parent-death signal is
    # tied to the forking thread, and a pool thread may exit before we do.
    mlflow = MlflowServer(state_dir / "mlflow", state_dir=state_dir).start()
    return mlflow, mlflow.uri


def open_runtime(
    settings: Settings,
    *,
    prompt_file: Path,
    env: SkillEnvironment,
    brief: BriefWatch,
    model: ModelLink,
    model_id: str,
) -> OpencodeRuntime:
    """opencode with the skills, reaching the model through the model path."""
    assert model.path is not None
    config = build_config(
        base_url=model.path.url,
        model_id=model_id,
        api_key=settings.model_api_key,
        context=settings.resolved_model_context,
        max_output=settings.resolved_model_max_output,
        prompt_file=prompt_file,
        mcp_servers=skill_specs(env),
        temperature=settings.model_temperature,
        # A request never outlives its turn; the turn's own timeout fires first.
        request_timeout_s=settings.resolved_turn_timeout_s + 30.0,
    )
    return OpencodeRuntime(
        binary=settings.opencode_bin or DEFAULT_BINARY,
        state_dir=settings.state_dir,
        config=config,
        model=ModelRef(PROVIDER_ID, model_id),
        model_base_url=model.path.url,
        model_api_key=settings.model_api_key,
        max_rss_mb=settings.opencode_max_rss_mb,
        prompt=brief,
        # The embedded model reads the prompt's fixed part (~3,200 tokens: minutes on a
        # CPU) after each start, not in the first turn; a remote server sees no extra request.
        on_prompt=model.prefill if model.embedded is not None else None,
    )


@dataclass
class Store:
    """The service's database and what reads and writes it."""

    db: Database
    transcript: Transcript
    inbox: Inbox
    conversations: Conversations


async def open_store(state_dir: Path, hub: Hub, clock: Clock) -> Store:
    db = Database(state_dir / "service.sqlite")
    await db.open()
    inbox = Inbox(db, hub, clock=clock.now)
    store = Store(db, Transcript(db, hub), inbox, Conversations(db))
    requeued = await inbox.start()
    if requeued:
        log.info("%d item(s) of turns cut short by the last stop are queued again", requeued)
    return store


async def open_chat(
    settings: Settings, given: ChatBridge | None, web: WebBridge | None, state_dir: Path
) -> tuple[ChatBridge | None, str | None]:
    """The bridge for MLOPS_CHAT (or the caller's own), and the notify channel as that chat
    names it."""
    s = settings
    if given is not None:
        return given, s.notify_channel
    if s.chat_kind != "matrix":
        return make_chat(s, web), WEB_CHANNEL if s.chat_kind == "web" else s.notify_channel
    from agent.chat.matrix import MatrixBridge

    assert s.matrix_homeserver and s.matrix_user_id and s.matrix_notify_room  # Settings did
    matrix = MatrixBridge(
        s.matrix_homeserver,
        s.matrix_user_id,
        notify_room=s.matrix_notify_room,
        state_dir=state_dir,
        access_token=s.matrix_access_token,
        password=s.matrix_password,
        allowed_users=s.allowed_users,
    )
    # An alias becomes its room id now: replies in a thread arrive naming the id.
    return matrix, await matrix.connect()


def make_chat(settings: Settings, web: WebBridge | None) -> ChatBridge | None:
    """The bridge for MLOPS_CHAT; None: replies go to the log (no chat configured)."""
    s = settings
    if s.chat_kind == "web":
        return web
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


@dataclass
class Turns:
    """The path of a turn: chat intake → inbox → engine (with its steps) → outbox."""

    outbox: Outbox
    approvals: Approvals
    engine: TurnEngine
    chat_intake: ChatIntake


def wire_turns(
    settings: Settings,
    *,
    store: Store,
    hub: Hub,
    ledger: Ledger,
    runtime: OpencodeRuntime,
    chat: ChatBridge | None,
    web: WebBridge | None,
    notify_channel: str | None,
    routing: Routing,
    attachments: Path,
) -> Turns:
    s = settings
    outbox = Outbox(
        chat,
        store.conversations,
        notify_channel,
        mentionable=routing.mentionable(s.allowed_users),
        channel_for=routing.channel,
        transcript=store.transcript,
        page=web,
    )
    approvals = Approvals(ledger, s.confirm_phrases, s.approvers, routing.deciders)
    engine = TurnEngine(
        inbox=store.inbox,
        conversations=store.conversations,
        runtime=runtime,
        outbox=outbox,
        turn_log=TurnLog(ledger, store.db, hub),
        steps=[
            RouteNotes(routing, outbox.mention),
            approvals,
            ToolAudit(ledger),
            ProposalCards(ledger, store.db, outbox, s.confirm_phrases),
            Attachments(attachments, outbox),
        ],
        silence_marker=s.silence_marker,
        max_concurrent=s.resolved_max_concurrent_turns,
        turn_timeout_s=s.resolved_turn_timeout_s,
    )
    chat_intake = ChatIntake(
        allowed_users=s.talkers,
        inbox=store.inbox,
        conversations=store.conversations,
        proposal_conversation=approvals.proposal_conversation,
        wake=engine.wake,
        shared_channels=routing.channels(),
    )
    return Turns(outbox, approvals, engine, chat_intake)


async def start_bridges(chat: ChatBridge | None, web: WebBridge | None, intake: ChatIntake) -> None:
    """The chat and (when it runs beside another chat) the web page hand messages in."""
    if chat is not None:
        await chat.start(intake.on_message, intake.on_click)
    if web is not None and web is not chat:
        await web.start(intake.on_message, intake.on_click)


def model_watch(
    settings: Settings, runtime: OpencodeRuntime, turns: Turns, endpoint: str
) -> ModelWatch:
    return ModelWatch(
        reachable=runtime.model_reachable,
        notice=turns.outbox.notice,
        engine=turns.engine,
        grace_s=settings.model_down_grace_s,
        endpoint=endpoint,
        interval_s=settings.model_check_interval_s,
    )


def schedule(
    settings: Settings, inbox: Inbox, state_dir: Path, turns: Turns, routing: Routing, clock: Clock
) -> Schedule:
    s = settings
    return Schedule(
        inbox,
        state_dir,
        turns.engine.wake,
        tick_interval_s=s.tick_interval_s,
        digest_at=parse_hhmm(s.digest_time, "MLOPS_DIGEST_TIME") if s.digest_time else None,
        zone=parse_zone(s.timezone),
        poll_s=min(30.0, s.tick_interval_s or 30.0),
        routes=routing.routes,
        clock=clock.now,
    )


async def start_watcher(
    settings: Settings,
    env: SkillEnvironment,
    state_dir: Path,
    store: Store,
    turns: Turns,
    clock: Clock,
) -> tuple[SchedulerProbe, Watcher, asyncio.Task[Any] | None]:
    """The aiqu watch process (always: it also starts jobs queued by `mlops-agent
    submit`) and, unless MLOPS_WATCH_INTERVAL_S is off, the passes over it."""
    s = settings
    probe = SchedulerProbe(env.to_env(), state_dir)
    try:
        await probe.start()
    except OSError as exc:
        log.error("the scheduler watch process did not start: %s", exc)
    watcher = Watcher(
        store.inbox,
        store.db,
        probe,
        WatchConfig(s.watch_grace_s, s.silence_factor, s.silence_min_s),
        wake=turns.engine.wake,
        interval_s=s.watch_interval_s,
        globs=s.watch_jobs,
        clock=clock.now,  # virtual in an eval: silences and grace on scenario time
    )
    task = None
    if s.watch_interval_s:
        task = asyncio.create_task(watcher.run(), name="scheduler-watch")
    return probe, watcher, task
