"""The supervisor's schedule over a real inbox database and a real sweeps database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from agent.engine.db import Database
from agent.engine.inbox import Inbox
from agent.engine.schedule import Schedule
from core.routes import Route, Routes
from mcp_servers.aiqu.sweeps import index as sweep_index

STOCKHOLM = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()  # 13:00 in Stockholm
woken: list[int] = []  # wake() calls of the latest schedule


@pytest_asyncio.fixture
async def inbox(state_dir: Path) -> AsyncIterator[Inbox]:
    db = Database(state_dir / "service.sqlite")
    await db.open()
    box = Inbox(db)
    await box.start()
    yield box
    await box.stop()
    await db.close()


def add_sweep(
    state_dir: Path, sweep_id: str, created: float, status: str = "active", base_job: str = ""
) -> None:
    conn = sweep_index.connect(sweep_index.sweeps_db(state_dir))
    sweep_index.insert(conn, sweep_id, {"base_job_name": base_job}, created)
    if status != "active":
        sweep_index.set_status(conn, sweep_id, status, created)
    conn.close()


def items(state_dir: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(state_dir / "service.sqlite")
    try:
        rows = conn.execute("SELECT kind, conversation, payload FROM inbox ORDER BY id").fetchall()
    finally:
        conn.close()
    return [tuple(r) for r in rows]


def schedule(inbox: Inbox, state_dir: Path, now: list[float], **kw: Any) -> Schedule:
    kw.setdefault("tick_interval_s", 600.0)
    kw.setdefault("digest_at", None)
    woken.clear()
    return Schedule(
        inbox, state_dir, lambda: woken.append(1), zone=STOCKHOLM, clock=lambda: now[0], **kw
    )


async def test_one_tick_per_interval_for_each_active_sweep(inbox: Inbox, state_dir: Path) -> None:
    add_sweep(state_dir, "a", T0 - 3600)
    add_sweep(state_dir, "b", T0 - 3600)
    add_sweep(state_dir, "paused", T0 - 3600, "paused")
    add_sweep(state_dir, "done", T0 - 3600, "finished")
    now = [T0]
    s = schedule(inbox, state_dir, now)
    assert sorted(await s.run_once()) == ["sweep:a", "sweep:b"]
    assert woken == [1]
    now[0] = T0 + 599  # same 10-minute slot: nothing new
    assert await s.run_once() == []
    now[0] = T0 + 600
    assert sorted(await s.run_once()) == ["sweep:a", "sweep:b"]
    ticks = items(state_dir)
    assert [(k, c) for k, c, _ in ticks] == [("tick", "sweep:a"), ("tick", "sweep:b")] * 2
    assert "scheduled check of sweep a (every 10 min)" in ticks[0][2]


async def test_a_new_sweep_gets_its_first_tick_one_interval_later(
    inbox: Inbox, state_dir: Path
) -> None:
    add_sweep(state_dir, "fresh", T0 + 10)
    now = [T0 + 20]
    s = schedule(inbox, state_dir, now)
    assert await s.run_once() == []
    now[0] = T0 + 600
    assert await s.run_once() == ["sweep:fresh"]


async def test_a_restart_in_the_same_slot_queues_no_second_tick(
    inbox: Inbox, state_dir: Path
) -> None:
    add_sweep(state_dir, "a", T0 - 3600)
    now = [T0]
    assert await schedule(inbox, state_dir, now).run_once() == ["sweep:a"]
    assert await schedule(inbox, state_dir, now).run_once() == []
    assert len(items(state_dir)) == 1


async def test_digest_once_a_day_at_the_local_time(inbox: Inbox, state_dir: Path) -> None:
    add_sweep(state_dir, "night", T0 - 3600, "finished")
    # 07:30 in Stockholm on 3 March is 06:30 UTC.
    at = datetime(2026, 3, 3, 6, 30, tzinfo=UTC).timestamp()
    now = [at - 60]
    s = schedule(inbox, state_dir, now, tick_interval_s=None, digest_at=time(7, 30))
    assert await s.run_once() == []
    now[0] = at
    assert await s.run_once() == ["digest:2026-03-03"]
    now[0] = at + 1800
    assert await s.run_once() == []
    ((kind, conversation, payload),) = items(state_dir)
    assert kind == "tick" and conversation == "digest:2026-03-03"
    assert "morning digest for 2026-03-03 (07:30 Europe/Stockholm)" in payload
    assert "Sweeps active in the last 24 h: night" in payload


async def test_one_digest_per_route_each_with_its_own_sweeps(inbox: Inbox, state_dir: Path) -> None:
    add_sweep(state_dir, "weld-lr", T0 - 3600, base_job="customer-a/weld")
    add_sweep(state_dir, "pcb-lr", T0 - 3600, base_job="customer-b/pcb")
    add_sweep(state_dir, "resnet-lr", T0 - 3600, base_job="internal/resnet")
    routes = Routes(
        (
            Route("customer-a", ("customer-a/**",), "CA"),
            Route("customer-b", ("customer-b/**",), "CB"),
        )
    )
    at = datetime(2026, 3, 3, 6, 30, tzinfo=UTC).timestamp()
    s = schedule(inbox, state_dir, [at], tick_interval_s=None, digest_at=time(7, 30), routes=routes)

    assert sorted(await s.run_once()) == [
        "digest:2026-03-03",
        "digest:customer-a:2026-03-03",
        "digest:customer-b:2026-03-03",
    ]
    sweeps = {conversation: payload for _, conversation, payload in items(state_dir)}
    assert "last 24 h: weld-lr" in sweeps["digest:customer-a:2026-03-03"]
    assert "last 24 h: pcb-lr" in sweeps["digest:customer-b:2026-03-03"]
    assert "last 24 h: resnet-lr" in sweeps["digest:2026-03-03"]
    assert routes.for_conversation("digest:customer-b:2026-03-03").channel == "CB"


async def test_a_digest_missed_by_over_an_hour_is_skipped(inbox: Inbox, state_dir: Path) -> None:
    at = datetime(2026, 3, 3, 6, 30, tzinfo=UTC).timestamp()
    now = [at + 3601]
    s = schedule(inbox, state_dir, now, tick_interval_s=None, digest_at=time(7, 30))
    assert await s.run_once() == []


async def test_no_sweeps_db_yet_means_no_ticks(inbox: Inbox, state_dir: Path) -> None:
    assert await schedule(inbox, state_dir, [T0]).run_once() == []


@pytest.mark.parametrize("raw", ["25:00", "7.30", "", "07:3"])
def test_bad_clock_times_name_the_setting(raw: str) -> None:
    from core.clock import parse_hhmm

    with pytest.raises(ValueError, match="MLOPS_DIGEST_TIME must be HH:MM"):
        parse_hhmm(raw, "MLOPS_DIGEST_TIME")
