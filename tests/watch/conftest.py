"""The watcher over real local jobs: a real service database and inbox, the real aiqu watch
process, and jobs run by a real local scheduler on the same state dir."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.engine.db import Database
from agent.engine.inbox import Inbox
from agent.watch.facts import WatchConfig
from agent.watch.probe import SchedulerProbe
from agent.watch.watcher import Watcher
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import Job, JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from tests.aiqu.conftest import kill_leftovers
from tests.conftest import ROOT


def skill_env(state_dir: Path, **kw: Any) -> SkillEnvironment:
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ}
    return SkillEnvironment(
        state_dir=state_dir,
        extra={**keep, "PYTHONPATH": str(ROOT), "MLOPS_LOCAL_GPUS": "2"},
        **kw,
    )


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


@pytest.fixture
def jobs(state_dir: Path) -> Iterator[LocalScheduler]:
    """The local scheduler a person or the agent submits through (its dispatcher runs)."""
    scheduler = LocalScheduler(state_dir, 2, env=skill_env(state_dir), poll_interval_s=0.05)
    scheduler.start()
    yield scheduler
    scheduler.close()
    kill_leftovers(state_dir)


def submit(scheduler: LocalScheduler, name: str, code: str, **kw: Any) -> Job:
    job = scheduler.submit(JobSpec(name, py(code), **kw))
    wait_for(lambda: scheduler.get(job.id).state.value != "pending", what=f"{name} to start")
    return scheduler.get(job.id)


async def until_items(world: World, watcher: Any, count: int, timeout_s: float) -> None:
    """Run passes, a second apart, until `count` items were filed or the time is up."""
    deadline = time.monotonic() + timeout_s
    while len(await world.items()) < count and time.monotonic() < deadline:
        await watcher.run_once()
        await asyncio.sleep(1.0)


class World:
    """The supervisor's side: database, inbox, the aiqu watch process, watchers over them."""

    def __init__(self, state_dir: Path, db: Database, inbox: Inbox, probe: SchedulerProbe):
        self.state_dir = state_dir
        self.db = db
        self.inbox = inbox
        self.probe = probe
        self.woken = 0

    def watcher(self, config: WatchConfig, **kw: Any) -> Watcher:
        def wake() -> None:
            self.woken += 1

        return Watcher(self.inbox, self.db, self.probe, config, wake=wake, **kw)

    async def event(self, job: str, type: str, **fields: Any) -> None:
        body = {"type": type, "job": job, **fields}
        await self.inbox.put_event(f"msg_{time.time_ns()}", body)

    async def items(self, kind: str = "watch") -> list[dict[str, Any]]:
        def read(conn: Any) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT dedupe_key, conversation, payload FROM inbox WHERE kind = ? ORDER BY id",
                (kind,),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self.db.run(read)


@asynccontextmanager
async def open_world(state_dir: Path, environment: dict[str, str]) -> AsyncIterator[World]:
    """The supervisor's side over `state_dir`; the watch process gets `environment`."""
    db = Database(state_dir / "service.sqlite")
    await db.open()
    inbox = Inbox(db)
    await inbox.start()
    probe = SchedulerProbe(environment, state_dir, timeout_s=60)
    try:
        yield World(state_dir, db, inbox, probe)
    finally:
        await probe.stop()
        await inbox.stop()
        await db.close()


@pytest_asyncio.fixture
async def world(state_dir: Path) -> AsyncIterator[World]:
    async with open_world(state_dir, skill_env(state_dir).to_env()) as opened:
        yield opened
