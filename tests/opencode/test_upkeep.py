"""Between turns: skills up from the start and restarted when dead, opencode restarted
when it outgrows its memory limit — after the turn in flight, never during it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent.opencode.config import McpServerSpec
from agent.opencode.liveness import children
from agent.opencode.runtime import OpencodeRuntime
from core.lifetime import command_line, process_start_time
from tests.fakes.model import Reply, ScriptedModel
from tests.opencode.conftest import echo_spec, make_runtime

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ECHO_TOOLS = {"echo_say", "echo_fail"}


def echo_pid(runtime: OpencodeRuntime) -> int | None:
    command = echo_spec().command
    return next((p for p in children(runtime.pid) if command_line(p) == command), None)


async def gone(pid: int, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while process_start_time(pid) is not None:  # None: gone, or a zombie
            await asyncio.sleep(0.05)


def restarts(reason: str) -> float:
    return REGISTRY.get_sample_value("mlops_opencode_restarts_total", {"reason": reason}) or 0.0


async def test_the_skills_run_before_the_first_turn(runtime: OpencodeRuntime) -> None:
    assert echo_pid(runtime) is not None
    assert await runtime.ready()
    assert await runtime.before_turn() == []


async def test_a_killed_skill_is_back_with_its_tools_for_the_next_turn(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("skill killed")
    await runtime.run_turn(session, "first", timeout_s=30)
    assert set(model.requests[-1].tool_names) >= ECHO_TOOLS
    old = echo_pid(runtime)
    assert old is not None

    os.kill(old, signal.SIGKILL)
    await gone(old)
    assert not await runtime.ready()  # a skill is missing: not ready

    assert await runtime.before_turn() == []
    assert echo_pid(runtime) not in (None, old)
    model.push(Reply.tool_calls(("echo_say", {"text": "back"})), Reply.text("done"))
    result = await runtime.run_turn(session, "second", timeout_s=30)
    assert set(model.requests[-1].tool_names) >= ECHO_TOOLS
    assert result.tool_calls[0].status == "completed"


async def test_a_skill_that_cannot_start_is_named_in_a_note_for_the_turn(
    model: ScriptedModel, brief_file: Path, tmp_path: Path
) -> None:
    broken = McpServerSpec("broken", [sys.executable, "-c", "raise SystemExit(3)"], timeout_ms=5000)
    rt = make_runtime(model, tmp_path, brief_file, mcp_servers=[echo_spec(), broken])
    await rt.start()
    try:
        assert not await rt.ready()
        [note] = await rt.before_turn()
        assert note.startswith("skill broken is unavailable (failed")
        assert "its tools are not in this turn" in note
        assert REGISTRY.get_sample_value(
            "mlops_skill_reconnects_total", {"skill": "broken", "outcome": "failed"}
        )
    finally:
        await rt.stop()


async def test_over_its_memory_limit_opencode_restarts_after_the_turn_in_flight(
    model: ScriptedModel, brief_file: Path, tmp_path: Path
) -> None:
    rt = make_runtime(model, tmp_path, brief_file, max_rss_mb=1)  # always over it
    await rt.start()
    try:
        session = await rt.ensure_session("memory")
        old_pid, before = rt.pid, restarts("memory")
        model.delay_s = 2.0
        model.push(Reply.text("finished in the old process"))
        turn = asyncio.create_task(rt.run_turn(session, "held open", timeout_s=60))
        await model.wait_for_requests(1, timeout_s=30)

        upkeep = asyncio.create_task(rt.before_turn())
        await asyncio.sleep(1.0)
        assert not upkeep.done() and rt.pid == old_pid  # waits for the turn in flight

        assert (await turn).text == "finished in the old process"
        seen = len(model.requests)
        assert await asyncio.wait_for(upkeep, 60) == []
        assert len(model.requests) == seen  # the new process's warm-up turn never reached it
        assert rt.pid not in (None, old_pid)
        assert restarts("memory") == before + 1
        assert echo_pid(rt) is not None  # its skills came back with it

        # The session survived the restart: the next turn carries the earlier one.
        model.delay_s = 0.0
        model.push(Reply.text("still the same conversation"))
        assert (await rt.run_turn(session, "after", timeout_s=60)).text.startswith("still")
        history = [m.get("content") for m in model.requests[-1].messages]
        assert "held open" in history and "finished in the old process" in history
    finally:
        await rt.stop()
