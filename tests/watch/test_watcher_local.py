"""The watcher over real processes on the local backend: a SIGKILL, a crash that reported
itself, a hang, and a restart of the supervisor between a death and the next pass."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from agent.watch.facts import WatchConfig
from agent.watch.probe import ProbeError
from mcp_servers.aiqu.backends.local import LocalScheduler
from tests.watch.conftest import World, open_world, skill_env, submit, wait_for

FAST = WatchConfig(grace_s=0.5, silence_factor=3, silence_min_s=900)
DIE = "import os, signal, time; time.sleep({s}); os.kill(os.getpid(), signal.SIGKILL)"


async def passes(watcher: object, seconds: float, every: float = 0.2) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await watcher.run_once()  # type: ignore[attr-defined]
        await asyncio.sleep(every)


async def test_a_job_killed_without_a_word_is_one_item_in_its_conversation(
    world: World, jobs: LocalScheduler
) -> None:
    job = submit(jobs, "cust/pcb-v2", DIE.format(s=0.5))
    await world.event("cust/pcb-v2", "started", attempt=1)
    await world.event("cust/pcb-v2", "epoch", attempt=1, epoch=1, total=60)
    await world.event("cust/pcb-v2", "epoch", attempt=1, epoch=2, total=60)
    watcher = world.watcher(FAST)
    wait_for(lambda: not jobs.get(job.id).state.active, what="the job to die")

    await watcher.run_once()  # within two passes (1 s apart here; the grace is shorter)
    await asyncio.sleep(1.0)
    await watcher.run_once()
    told = await world.items()
    await passes(watcher, 1.5)  # and later passes add nothing

    items = await world.items()
    assert told == items
    assert [(i["dedupe_key"], i["conversation"]) for i in items] == [
        (f"watch:{job.id}:1.0:ended", "job:cust/pcb-v2")
    ]
    payload = json.loads(items[0]["payload"])
    assert payload["fact"] == "ended" and payload["exit_code"] == -9
    assert "killed by signal 9 (SIGKILL)" in payload["text"]
    assert "Last event: epoch epoch=2 total=60" in payload["text"]
    assert world.woken == 1


async def test_a_crash_the_job_reported_itself_adds_nothing(
    world: World, jobs: LocalScheduler
) -> None:
    job = submit(jobs, "cust/crashes", "import time; time.sleep(0.3); raise SystemExit(3)")
    await world.event("cust/crashes", "started", attempt=1)
    wait_for(lambda: not jobs.get(job.id).state.active, what="the job to fail")
    await world.event("cust/crashes", "crashed", attempt=1, epoch=1)

    await passes(world.watcher(FAST), 1.5)

    assert jobs.get(job.id).exit_code == 3
    assert await world.items() == []


async def test_a_job_that_stops_reporting_is_one_silence_not_one_per_pass(
    world: World, jobs: LocalScheduler
) -> None:
    submit(jobs, "cust/hangs", "import time; time.sleep(60)")
    for epoch in (1, 2, 3):
        await world.event("cust/hangs", "epoch", attempt=1, epoch=epoch, total=60)
        await asyncio.sleep(0.5)  # its rhythm: an epoch every ~0.5 s
    config = WatchConfig(grace_s=0.5, silence_factor=3, silence_min_s=2.0)
    watcher = world.watcher(config)

    await passes(watcher, 3.5)  # silent from ~2 s; it doubles only at ~4 s

    items = await world.items()
    assert len(items) == 1, [i["dedupe_key"] for i in items]
    assert items[0]["dedupe_key"].endswith(":silent:3:0")
    text = json.loads(items[0]["payload"])["text"]
    assert "is running but sent no event for" in text and "Last event: epoch epoch=3" in text


async def test_a_restart_between_the_death_and_the_next_pass_still_tells_it_once(
    world: World, jobs: LocalScheduler
) -> None:
    job = submit(jobs, "cust/restart", "import time; time.sleep(60)")
    await world.event("cust/restart", "epoch", attempt=1, epoch=1)
    await world.watcher(FAST).run_once()  # before: it runs
    jobs.cancel(job.id, by="bob")  # then it ends, while no watcher runs

    await passes(world.watcher(FAST), 1.5)  # a new supervisor: its first passes
    await passes(world.watcher(FAST), 1.0)  # and another restart

    items = await world.items()
    assert [i["dedupe_key"] for i in items] == [f"watch:{job.id}:1.0:ended"]
    assert "reason 'cancelled by bob'" in json.loads(items[0]["payload"])["text"]


async def test_old_ends_from_before_the_first_pass_are_not_news(
    world: World, jobs: LocalScheduler
) -> None:
    job = submit(jobs, "cust/long-ago", "pass")
    wait_for(lambda: not jobs.get(job.id).state.active, what="the job to end")
    await asyncio.sleep(1.0)

    await passes(world.watcher(WatchConfig(grace_s=0.5)), 1.0)

    assert await world.items() == []


async def test_a_scheduler_that_cannot_be_read_is_an_error_of_the_pass_not_an_item(
    state_dir: Path,
) -> None:
    broken = {**skill_env(state_dir).to_env(), "MLOPS_SCHEDULER": "pbs"}
    async with open_world(state_dir, broken) as world:
        watcher = world.watcher(FAST)

        with pytest.raises(ProbeError, match="MLOPS_SCHEDULER must be one of local, slurm"):
            await watcher.run_once()

        assert await world.items() == [] and world.woken == 0
