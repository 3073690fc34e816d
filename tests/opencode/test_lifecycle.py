"""Keeping opencode alive: restarts, retries, timeouts, health, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from agent.model.prompt import stable_system
from agent.opencode.errors import OpencodeRestarted, TurnTimeout
from agent.opencode.runtime import OpencodeRuntime
from core.lifetime import group_members
from tests.fakes.model import Reply, ScriptedModel
from tests.opencode.conftest import make_runtime

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


async def _until(predicate_async, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await predicate_async():
        assert time.monotonic() < deadline, f"not true within {timeout_s} s"
        await asyncio.sleep(0.1)


async def _async(value: bool) -> bool:
    return value


async def test_opencode_killed_mid_turn_restarts_and_the_retry_succeeds(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("killed mid-turn")
    old_pid = runtime.pid
    assert old_pid is not None
    model.delay_s = 5.0  # hold the turn open
    turn = asyncio.create_task(runtime.run_turn(session, "long question", timeout_s=60))
    await model.wait_for_requests(1, timeout_s=30)

    os.kill(old_pid, signal.SIGKILL)
    with pytest.raises(OpencodeRestarted):
        await turn

    assert runtime.pid not in (None, old_pid)
    model.delay_s = 0.0
    model.push(Reply.text("answer after restart"))
    result = await runtime.run_turn(session, "long question", timeout_s=60)
    assert result.text == "answer after restart"
    assert result.session_id == session
    # The interrupted attempt was removed: the model sees the question once.
    asked = [m for m in model.requests[-1].messages if m.get("content") == "long question"]
    assert len(asked) == 1


async def test_opencode_killed_while_idle_comes_back_with_its_sessions(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("killed idle")
    await runtime.run_turn(session, "before", timeout_s=30)
    old_pid = runtime.pid
    restarts = runtime.restarts
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)
    # A restart includes the skills' start and a warm-up turn: slow on a loaded machine.
    await _until(lambda: _restarted(runtime, restarts), 90)

    assert await runtime.ensure_session("killed idle", session) == session
    model.push(Reply.text("still here"))
    assert (await runtime.run_turn(session, "after", timeout_s=30)).text == "still here"
    # The conversation carried over: the model sees the earlier turn.
    assert "before" in [m.get("content") for m in model.requests[-1].messages]


async def _restarted(runtime: OpencodeRuntime, restarts: int) -> bool:
    return runtime.restarts > restarts and await runtime.ready()


async def test_a_turn_cut_off_by_a_kill_of_everything_is_taken_out_of_its_session_after(
    model: ScriptedModel, brief_file: Path, tmp_path: Path
) -> None:
    """Issue 27: opencode and its skills die in one instant with a turn open (as in a killed
    container), and a new opencode starts on the same state. No retry there removed the cut-off
    turn, so the supervisor asks for it by its turn marker; a finished turn stays."""
    first = make_runtime(model, tmp_path / "state", brief_file)
    await first.start()
    session = await first.ensure_session("cut off")
    await first.run_turn(session, "[turn_id=t1 ] first question", timeout_s=30)
    model.delay_s = 60.0  # the second turn is waiting for the model when everything dies
    cut = asyncio.create_task(first.run_turn(session, "[turn_id=t2 ] second", timeout_s=90))
    await model.wait_for_requests(2, timeout_s=30)
    assert first.pid is not None
    os.killpg(first.pid, signal.SIGKILL)  # opencode and its skills: its own process group
    await first.stop()  # at once, before its watcher would start a new one
    cut.cancel()
    await asyncio.gather(cut, return_exceptions=True)

    model.reset()
    again = make_runtime(model, tmp_path / "state", brief_file)
    await again.start()
    try:
        await again.forget_turn(session, "[turn_id=t1 ")  # finished: kept
        await again.forget_turn(session, "[turn_id=t2 ")
        model.push(Reply.text("third answer"))
        result = await again.run_turn(session, "[turn_id=t3 ] third", timeout_s=30)
    finally:
        await again.stop()
    assert result.text == "third answer"
    history = [(m["role"], m.get("content")) for m in model.requests[-1].messages]
    asked = [content for role, content in history if role == "user"]
    assert asked == ["[turn_id=t1 ] first question", "[turn_id=t3 ] third"], history


async def test_turn_past_its_timeout_is_aborted(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("timeout")
    model.delay_s = 10.0
    started = time.monotonic()

    with pytest.raises(TurnTimeout):
        await runtime.run_turn(session, "slow", timeout_s=1.0)

    assert time.monotonic() - started < 3.0
    # Aborted, not left running: the session takes the next turn at once.
    model.delay_s = 0.0
    model.push(Reply.text("fast now"))
    assert (await runtime.run_turn(session, "again", timeout_s=10)).text == "fast now"


async def test_ready_and_model_reachable(runtime: OpencodeRuntime, model: ScriptedModel) -> None:
    assert await runtime.ready()
    assert await runtime.model_reachable()

    model.down = True
    assert not await runtime.model_reachable()
    assert await runtime.ready()  # opencode itself does not depend on the model

    model.down = False
    assert await runtime.model_reachable()


async def test_ensure_session_replaces_an_unknown_id(runtime: OpencodeRuntime) -> None:
    fresh = await runtime.ensure_session("replacement", "ses_doesnotexist000000000000")
    assert fresh.startswith("ses_") and fresh != "ses_doesnotexist000000000000"
    assert await runtime.ensure_session("again", fresh) == fresh


async def test_stop_ends_opencode_and_its_mcp_servers(
    model: ScriptedModel, brief_file: Path, tmp_path: Path
) -> None:
    rt = make_runtime(model, tmp_path, brief_file)
    await rt.start()
    session = await rt.ensure_session("own process")
    model.push(Reply.tool_calls(("echo_say", {"text": "x"})), Reply.text("done"))
    await rt.run_turn(session, "start the MCP server", timeout_s=30)
    pid = rt.pid
    assert pid is not None
    assert len(group_members(pid)) >= 2  # opencode and the echo server

    started = time.monotonic()
    await rt.stop()

    # SIGKILL is delivered asynchronously: give the kernel a moment to end them.
    await _until(lambda: _async(group_members(pid) == []), 3)
    assert not await rt.ready()
    assert time.monotonic() - started < 6.0


async def test_each_start_hands_over_the_prompt_every_turn_will_send(
    model: ScriptedModel, brief_file: Path, tmp_path: Path
) -> None:
    """The warm-up turn's request carries the system prompt and tools of every real turn:
    the embedded model reads them ahead (agent.service), not in the first turn."""
    handed: list[dict] = []

    async def keep(body: dict) -> None:
        handed.append(body)

    rt = make_runtime(model, tmp_path / "state", brief_file, on_prompt=keep)
    await rt.start()
    try:
        await _until(lambda: _async(bool(handed)), 10)
        session = await rt.ensure_session("a real turn")
        await rt.run_turn(session, "status?", timeout_s=60)
    finally:
        await rt.stop()
    (body,) = handed
    real = model.requests[-1]
    system = [m for m in body["messages"] if m["role"] == "system"]
    # The same after the model path's cut of opencode's model line and <env> block.
    assert stable_system(str(system[0]["content"])) == stable_system(real.system)
    assert body["tools"] == real.raw["tools"]
    assert model.requests == [real]  # the warm-up never reached the real model
