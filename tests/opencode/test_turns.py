"""Turns through the real opencode binary against the scripted model and a real MCP server."""

from __future__ import annotations

import json

import pytest

from agent.opencode.client import ModelRef
from agent.opencode.errors import OpencodeHTTPError
from agent.opencode.runtime import OpencodeRuntime
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.opencode.conftest import BRIEF

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SKILL_TOOLS = {"echo_say", "echo_fail"}


async def test_plain_text_turn(runtime: OpencodeRuntime, model: ScriptedModel) -> None:
    session = await runtime.ensure_session("plain")
    model.push(Reply.text("Job resnet-42 finished: val_acc 0.91 ↑"))

    result = await runtime.run_turn(session, "event: finished resnet-42", timeout_s=30)

    assert result.text == "Job resnet-42 finished: val_acc 0.91 ↑"
    assert result.tool_calls == ()
    assert result.error is None
    assert result.finish == "stop"
    assert model.requests[-1].last_user_text == "event: finished resnet-42"


async def test_tool_call_turn_lists_the_calls(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("tools")
    model.push(
        Reply.tool_calls(("echo_say", {"text": "ping"}), ("echo_fail", {"reason": "no such job"})),
        Reply.text("pong seen"),
    )

    result = await runtime.run_turn(session, "use the tools", timeout_s=30)

    assert result.text == "pong seen"
    say, fail = result.tool_calls
    assert (say.tool, say.input, say.status) == ("echo_say", {"text": "ping"}, "completed")
    assert json.loads(say.output or "") == {"said": "ping"}
    assert (fail.tool, fail.status) == ("echo_fail", "error")
    assert "no such job" in (fail.error or "")
    # The model's second request carried both tool results back.
    results = model.requests[-1].tool_results
    assert [json.loads(results[0]["content"])] == [{"said": "ping"}]
    assert "no such job" in results[1]["content"]


async def test_the_same_call_three_times_in_one_step_is_not_a_turn_error(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    # opencode asks a person before a third identical call in one step (its "doom loop"
    # check); a headless turn has nobody to answer, and the refusal ended the whole turn
    # as an error. Repeats are the model path's to stop (agent/model/loops.py).
    session = await runtime.ensure_session("the same call thrice")
    model.push(Reply.tool_calls(*[("echo_say", {"text": "again"})] * 3), Reply.text("said"))

    result = await runtime.run_turn(session, "say it", timeout_s=30)

    assert result.error is None and result.text == "said"
    assert [c.status for c in result.tool_calls] == ["completed"] * 3


async def test_tool_calls_of_earlier_turns_are_not_reported(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("two turns")
    model.push(Reply.tool_calls(("echo_say", {"text": "first"})), Reply.text("one"))
    await runtime.run_turn(session, "turn one", timeout_s=30)
    model.push(Reply.tool_calls(("echo_say", {"text": "second"})), Reply.text("two"))

    result = await runtime.run_turn(session, "turn two", timeout_s=30)

    assert [c.input for c in result.tool_calls] == [{"text": "second"}]


async def test_model_sees_only_skill_tools(runtime: OpencodeRuntime, model: ScriptedModel) -> None:
    session = await runtime.ensure_session("tool list")
    model.push(Reply.tool_calls(("echo_say", {"text": "x"})), Reply.text("done"))

    await runtime.run_turn(session, "what tools do you have?", timeout_s=30)

    assert len(model.requests) == 2
    for request in model.requests:
        # No bash, edit, read, write, webfetch, question, todo, task, skill…
        assert set(request.tool_names) == SKILL_TOOLS


async def test_system_prompt_starts_with_the_brief(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("brief")

    await runtime.run_turn(session, "hello", timeout_s=30)

    assert model.requests[-1].system.startswith(BRIEF)


async def test_a_wrong_agent_and_model_on_the_session_do_not_stick(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    """opencode keeps the last agent and model on a session; run_turn must pass its own."""
    session = await runtime.ensure_session("sticky")
    client = runtime._client
    assert client is not None
    # Someone prompts the session with opencode's coding agent: it sees the built-in tools.
    await client.prompt(session, "as the coder", agent="build", model=runtime.model)
    assert "bash" in model.requests[-1].tool_names

    result = await runtime.run_turn(session, "as the mlops agent", timeout_s=30)

    assert result.text == "ok"
    last = model.requests[-1]
    assert set(last.tool_names) == SKILL_TOOLS
    assert last.system.startswith(BRIEF)
    assert last.raw["model"] == model.model_id


async def test_an_unknown_model_fails_only_that_prompt(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("bad model")
    client = runtime._client
    assert client is not None
    # opencode 1.18.33 answers an unknown model with HTTP 500 "UnknownError".
    with pytest.raises(OpencodeHTTPError) as raised:
        await client.prompt(session, "x", agent="mlops", model=ModelRef("local", "nope"))
    assert raised.value.status == 500

    result = await runtime.run_turn(session, "and now properly", timeout_s=30)

    assert result.error is None
    assert model.requests[-1].raw["model"] == model.model_id


async def test_model_error_surfaces_in_the_result(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("model error")
    # retry-after-ms replaces opencode's 2 s → 32 s backoff between its 5 retries.
    model.handler = lambda _req: Reply.error(503, retry_after_ms=20)

    result = await runtime.run_turn(session, "anyone there?", timeout_s=30)

    assert result.error is not None
    assert result.error.name == "APIError"
    assert result.text == ""
    # One try and opencode's fixed 5 retries; no config key changes that count in 1.18.33.
    assert len(model.requests) == 6


async def test_session_works_after_a_model_error(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    session = await runtime.ensure_session("recovers")
    model.handler = lambda _req: Reply.error(500, retry_after_ms=10)
    await runtime.run_turn(session, "fails", timeout_s=30)
    model.handler = None

    result = await runtime.run_turn(session, "works", timeout_s=30)

    assert (result.error, result.text) == (None, "ok")


async def test_async_handler_sees_the_request(
    runtime: OpencodeRuntime, model: ScriptedModel
) -> None:
    async def answer(request: ModelRequest) -> Reply:
        return Reply.text(f"you said {request.last_user_text!r}")

    model.handler = answer
    session = await runtime.ensure_session("handler")

    result = await runtime.run_turn(session, "epoch 3 of 10", timeout_s=30)

    assert result.text == "you said 'epoch 3 of 10'"


async def test_opencode_installs_nothing(runtime: OpencodeRuntime, model: ScriptedModel) -> None:
    """opencode 1.18.33 npm-installs a plugin package at start unless npm is offline."""
    session = await runtime.ensure_session("offline")
    await runtime.run_turn(session, "hello", timeout_s=30)

    root = runtime._process.root
    assert not (root / "config/opencode/node_modules").exists()
    assert not (root / "home/.npm/_cacache/content-v2").exists()
