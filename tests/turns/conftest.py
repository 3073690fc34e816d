"""The supervisor's turn machinery on real sqlite files, with a scripted runtime and chat.

Real: the service `Database`, `Inbox`, `Conversations`, the guard `Ledger`,
`TurnLog`, `Outbox` and the steps. Doubles: the opencode runtime
(`tests/fakes/runtime.py`) and the chat service (`tests/fakes/chat.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.engine.conversations import Conversations
from agent.engine.db import Database
from agent.engine.inbox import Inbox
from agent.engine.outbox import Outbox
from agent.engine.steps.base import TurnStep
from agent.engine.turn_log import TurnLog
from agent.engine.turns import TurnEngine
from core.ledger import Ledger, create_key
from tests.fakes.chat import RecordingChat
from tests.fakes.runtime import FakeRuntime

NOTIFY = "CNOTIFY"
ALICE = "UALICE"  # on the allowlist
MALLORY = "UMALLORY"  # not on it
SILENCE = "<silent/>"
PHRASES = ("yes", "go ahead", "kör på", "approve")


MEMORY_FS = Path("/dev/shm")


@pytest.fixture
def store_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the sqlite files live: in memory (tmpfs) where there is one.

    These tests are about the engine's mechanics, not durability (the inbox's
    own tests cover that on disk); every commit here fsyncs, and on a shared
    disk the fsyncs alone took three times as long as the tests.
    """
    if not MEMORY_FS.is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="turns-", dir=MEMORY_FS))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture
async def db(store_dir: Path) -> AsyncIterator[Database]:
    database = Database(store_dir / "service.sqlite")
    await database.open()
    yield database
    await database.close()


@pytest_asyncio.fixture
async def inbox(db: Database) -> AsyncIterator[Inbox]:
    box = Inbox(db)
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
def conversations(db: Database) -> Conversations:
    return Conversations(db)


@pytest.fixture
def ledger(store_dir: Path) -> Ledger:
    key = store_dir / "ledger.key"
    create_key(key)
    return Ledger.from_files(store_dir / "ledger.sqlite", key)


@pytest.fixture
def chat() -> RecordingChat:
    return RecordingChat()


@pytest.fixture
def outbox(chat: RecordingChat, conversations: Conversations) -> Outbox:
    return Outbox(chat, conversations, NOTIFY, mentionable=frozenset({ALICE}))


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def turn_log(ledger: Ledger, db: Database) -> TurnLog:
    return TurnLog(ledger, db)


@dataclass
class Rig:
    """A running engine and what it talks to."""

    engine: TurnEngine
    running: asyncio.Task[None]  # engine.run()
    inbox: Inbox
    runtime: FakeRuntime
    chat: RecordingChat
    db: Database

    async def event(self, job: str, **fields: Any) -> None:
        await self.inbox.put_event(uuid.uuid4().hex, {"type": "epoch", "job": job, **fields})
        self.engine.wake()

    async def turns(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """The service database's turn rows, oldest first."""
        rows = await self.db.run(_turn_rows)
        return [r for r in rows if conversation is None or r["conversation"] == conversation]

    async def inbox_states(self) -> dict[str, int]:
        return dict(await self.db.run(_inbox_states))

    async def all_done(self) -> bool:
        return set((await self.inbox_states()).keys()) == {"done"}


def _turn_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT * FROM turns ORDER BY started, rowid")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _inbox_states(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return conn.execute("SELECT state, count(*) FROM inbox GROUP BY state").fetchall()


StartEngine = Callable[..., Awaitable[Rig]]


@pytest_asyncio.fixture
async def start_engine(
    db: Database,
    inbox: Inbox,
    conversations: Conversations,
    runtime: FakeRuntime,
    chat: RecordingChat,
    outbox: Outbox,
    turn_log: TurnLog,
) -> AsyncIterator[StartEngine]:
    tasks: list[tuple[TurnEngine, asyncio.Task[None]]] = []

    async def start(
        *, steps: list[TurnStep] | None = None, max_concurrent: int = 4, **kwargs: Any
    ) -> Rig:
        engine = TurnEngine(
            inbox=inbox,
            conversations=conversations,
            runtime=runtime,
            outbox=outbox,
            turn_log=turn_log,
            steps=steps or [],
            silence_marker=SILENCE,
            max_concurrent=max_concurrent,
            turn_timeout_s=5.0,
            retry_after_error_s=kwargs.pop("retry_after_error_s", 0.05),
            **kwargs,
        )
        running = asyncio.create_task(engine.run())
        tasks.append((engine, running))
        return Rig(engine, running, inbox, runtime, chat, db)

    yield start
    for engine, running in tasks:
        await engine.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 3.0) -> Any:
    """Poll until `check()` returns something truthy; its value, or TimeoutError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
