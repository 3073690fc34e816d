"""The recording proxy: forwards the model's stream untouched, and remembers per turn
what was asked, what came back and the endpoint's usage numbers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from evals.proxy import RecordingProxy
from tests.fakes.model import Reply, ScriptedModel

TURN = "[turn_id=0123456789abcdef0123456789abcdef conversation=job:team/a items=1 (event)]"


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[ScriptedModel]:
    async with ScriptedModel() as m:
        yield m


@pytest_asyncio.fixture
async def proxy(upstream: ScriptedModel) -> AsyncIterator[RecordingProxy]:
    proxy = await RecordingProxy(upstream.base_url).start()
    yield proxy
    await proxy.stop()


def request(stream: bool = True, *extra: dict[str, object]) -> dict[str, object]:
    return {
        "model": "scripted",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "the brief"},
            {"role": "user", "content": "an older turn"},
            {"role": "user", "content": f"{TURN}\n\nevent crashed 10:00:00Z job=team/a"},
            *extra,
        ],
        "tools": [{"type": "function", "function": {"name": "aiqu_get_job", "parameters": {}}}],
    }


async def test_a_streamed_answer_passes_through_and_is_recorded(
    upstream: ScriptedModel, proxy: RecordingProxy
) -> None:
    upstream.push(Reply.tool_calls(("aiqu_get_job", {"job": "team/a"}), content="Looking"))
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{proxy.url}/chat/completions", json=request(), headers={"x-session-id": "ses_1"}
        )
    lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert upstream.requests[0].raw["messages"] == request()["messages"]  # forwarded as sent
    (call,) = proxy.calls
    assert (call.turn_id, call.conversation, call.session) == (
        "0123456789abcdef0123456789abcdef",
        "job:team/a",
        "ses_1",
    )
    assert call.turn_messages[0]["content"].startswith(TURN)  # the turn's own messages only
    assert call.text == "Looking"
    assert [(c["name"], json.loads(c["arguments"])) for c in call.tool_calls] == [
        ("aiqu_get_job", {"job": "team/a"})
    ]
    usage = json.loads(lines[-2].removeprefix("data: "))["usage"]
    assert (call.prompt_tokens, call.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert proxy.system_prompt == "the brief" and proxy.tools_offered == ["aiqu_get_job"]


async def test_a_request_without_a_header_is_charged_to_its_sessions_turn(
    upstream: ScriptedModel, proxy: RecordingProxy
) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(
            f"{proxy.url}/chat/completions", json=request(), headers={"x-session-id": "s"}
        )
        summary = {
            "model": "scripted",
            "stream": True,
            "messages": [{"role": "user", "content": "sum up"}],
        }
        await http.post(
            f"{proxy.url}/chat/completions", json=summary, headers={"x-session-id": "s"}
        )
    assert [c.turn_id for c in proxy.calls] == ["0123456789abcdef0123456789abcdef"] * 2
    assert len(proxy.calls_of({"0123456789abcdef0123456789abcdef"})) == 2


async def test_plain_answers_errors_and_a_dead_endpoint(
    upstream: ScriptedModel, proxy: RecordingProxy
) -> None:
    upstream.push(Reply.text("plain"), Reply.error(503))
    async with httpx.AsyncClient() as http:
        plain = await http.post(f"{proxy.url}/chat/completions", json=request(stream=False))
        failed = await http.post(f"{proxy.url}/chat/completions", json=request())
        models = await http.get(f"{proxy.url}/models")
        upstream.down = True
        dead = await http.post(f"{proxy.url}/chat/completions", json=request())
    assert plain.json()["choices"][0]["message"]["content"] == "plain"
    assert models.json()["data"][0]["id"] == "scripted"
    assert (failed.status_code, dead.status_code) == (503, 502)
    assert [c.status for c in proxy.calls] == [200, 503, 502]
    assert proxy.calls[0].text == "plain" and proxy.calls[0].prompt_tokens
