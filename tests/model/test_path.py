"""The model path over HTTP, against the scripted model as the endpoint behind it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from agent.model import path as model_path
from agent.model.path import ModelPath
from tests.fakes.model import Reply, ScriptedModel

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "aiqu_list_jobs",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    }
]
CALL_AS_TEXT = json.dumps({"name": "aiqu_list_jobs", "arguments": {"state": "active"}})


def request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "scripted",
        "stream": True,
        "messages": [
            {"role": "system", "content": "brief\nToday's date: Mon Dec 07 2026\n"},
            {"role": "user", "content": "what runs?"},
        ],
        "tools": TOOLS,
        **extra,
    }


async def chat(url: str, body: dict[str, Any]) -> tuple[int, list[str]]:
    """The status and the SSE lines (comments included) the caller receives."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/chat/completions", json=body) as r,
    ):
        text = await r.text()
    return r.status, [line for line in text.splitlines() if line]


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [
        json.loads(line[5:]) for line in lines if line.startswith("data:") and "[DONE]" not in line
    ]


def tool_calls(lines: list[str]) -> list[dict[str, Any]]:
    return [
        tc
        for e in events(lines)
        for c in e.get("choices", [])
        for tc in c["delta"].get("tool_calls", [])
    ]


def text(lines: list[str]) -> str:
    return "".join(
        c["delta"].get("content") or "" for e in events(lines) for c in e.get("choices", [])
    )


@pytest.fixture(scope="module")
def model() -> Any:
    with ScriptedModel() as m:
        yield m


@pytest_asyncio.fixture
async def repairing(model: ScriptedModel) -> AsyncIterator[ModelPath]:
    model.reset()
    path = ModelPath(model.base_url, repair_tool_text=True)
    await path.start()
    yield path
    await path.stop()


async def test_a_call_written_as_text_arrives_as_a_tool_call(
    model: ScriptedModel, repairing: ModelPath
) -> None:
    model.push(Reply.text(CALL_AS_TEXT))
    status, lines = await chat(repairing.url, request())
    assert status == 200
    (call,) = tool_calls(lines)
    assert call["function"] == {"name": "aiqu_list_jobs", "arguments": '{"state": "active"}'}
    assert call["id"].startswith("call_")
    finishes = [c["finish_reason"] for e in events(lines) for c in e.get("choices", [])]
    assert finishes[-1] == "tool_calls" and text(lines) == ""
    assert lines[-1] == "data: [DONE]"
    assert repairing.repaired == 1


async def test_without_repair_the_text_passes_as_text(model: ScriptedModel) -> None:
    model.reset()
    path = ModelPath(model.base_url, repair_tool_text=False)
    await path.start()
    try:
        model.push(Reply.text(CALL_AS_TEXT))
        _, lines = await chat(path.url, request())
    finally:
        await path.stop()
    assert tool_calls(lines) == [] and text(lines) == CALL_AS_TEXT


async def test_the_model_receives_a_stable_system_prompt_and_real_calls_pass(
    model: ScriptedModel, repairing: ModelPath
) -> None:
    model.push(Reply.tool_calls(("aiqu_list_jobs", {})))
    _, lines = await chat(repairing.url, request())
    sent = model.requests[-1]
    assert sent.system == "brief\n" and "additionalProperties" not in json.dumps(sent.raw["tools"])
    assert [c["function"]["name"] for c in tool_calls(lines)] == ["aiqu_list_jobs"]
    assert repairing.repaired == 0


async def test_a_slow_model_keeps_the_caller_informed(
    model: ScriptedModel, repairing: ModelPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_path, "KEEPALIVE_S", 0.2)
    model.delay_s = 1.0
    model.push(Reply.text("done"))
    _, lines = await chat(repairing.url, request())
    assert any(line.startswith(":") for line in lines)  # comments, which SSE readers skip
    assert text(lines) == "done"


async def test_an_endpoint_error_reaches_the_caller_with_its_status(
    model: ScriptedModel, repairing: ModelPath
) -> None:
    model.push(Reply.error(503, retry_after_ms=1500))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{repairing.url}/chat/completions", json=request()) as r:
            assert r.status == 503 and r.headers["retry-after-ms"] == "1500"
        async with http.get(f"{repairing.url}/models") as r:
            assert (await r.json())["data"][0]["id"] == "scripted"


async def test_a_caller_that_goes_away_ends_the_models_request(
    model: ScriptedModel, repairing: ModelPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_path, "KEEPALIVE_S", 0.1)
    model.delay_s = 2.0
    model.push(Reply.text("too late"))
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{repairing.url}/chat/completions", json=request())
        await response.content.readline()  # the first keep-alive: the request is under way
        response.close()
    await asyncio.sleep(2.5)
    # The scripted model consumes a reply only for a caller still there.
    assert model._queue and model._queue[0].content == "too late"


async def test_an_unreachable_endpoint_is_a_502_naming_it() -> None:
    path = ModelPath("http://127.0.0.1:9/v1")
    await path.start()
    try:
        status, lines = await chat(path.url, request())
    finally:
        await path.stop()
    assert status == 502 and "127.0.0.1:9" in lines[0]


async def test_a_call_written_many_times_in_one_reply_runs_once(
    model: ScriptedModel, repairing: ModelPath
) -> None:
    same, other = ("aiqu_list_jobs", {"state": "active"}), ("aiqu_list_jobs", {"state": "done"})
    model.push(Reply.tool_calls(same, other, same, same))
    _, lines = await chat(repairing.url, request())
    written = [json.loads(c["function"]["arguments"]) for c in tool_calls(lines)]
    assert written == [{"state": "active"}, {"state": "done"}]
    assert [c["index"] for c in tool_calls(lines)] == [0, 1]


async def test_a_call_written_as_text_until_the_output_limit_runs_once(
    model: ScriptedModel, repairing: ModelPath
) -> None:
    # The 0.5B's shape: one call over and over, its keys in any order, cut off mid-call.
    again = json.dumps({"arguments": {"state": "active"}, "name": "aiqu_list_jobs"})
    model.push(Reply(content=f"{CALL_AS_TEXT}\n{again}\n" * 5 + CALL_AS_TEXT[:20], finish="length"))
    _, lines = await chat(repairing.url, request())
    (call,) = tool_calls(lines)
    assert json.loads(call["function"]["arguments"]) == {"state": "active"}
    finishes = [c["finish_reason"] for e in events(lines) for c in e.get("choices", [])]
    assert finishes[-1] == "tool_calls" and text(lines) == ""


async def test_a_repeated_failing_call_becomes_the_note(model: ScriptedModel) -> None:
    model.reset()
    path = ModelPath(model.base_url)
    await path.start()
    error = "Error executing tool cancel_job: no proposal 'p-1'"
    args = {"job": "a", "proposal_id": "p-1"}
    history = []
    for i in (1, 2):
        history += [
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": f"c{i}", "type": "function",
                 "function": {"name": "aiqu_cancel_job", "arguments": json.dumps(args)}}]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": error},
        ]  # fmt: skip
    body = request()
    body["messages"] += history
    try:
        model.push(Reply.tool_calls(("aiqu_cancel_job", args)))
        _, lines = await chat(path.url, body)
    finally:
        await path.stop()
    assert tool_calls(lines) == []
    assert text(lines).startswith(
        "Turn stopped by the service: `aiqu_cancel_job` was called 3 times"
    )
    assert path.stopped == 1


async def test_numbers_no_json_reader_takes_are_passed_on_as_null(
    model: ScriptedModel, repairing: ModelPath
) -> None:
    model.push(Reply.text("ok", prompt_tokens=float("inf")))  # sent as `Infinity`, not JSON
    _, lines = await chat(repairing.url, request(stream_options={"include_usage": True}))
    assert all("Infinity" not in line and "NaN" not in line for line in lines)
    assert text(lines) == "ok"
