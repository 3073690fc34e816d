"""What the real embedded models wrote, replayed through the whole service: real opencode,
real skills, the model path, fake Slack; the scripted model plays the recorded text.

The recordings (tests/model/recorded/outputs.json) are the models' raw words from real
runs (`python -m tests.model.record`, and the eval runs under docs/evals/): tool calls
written as text in each shape, invented calls, the turn header and event read back,
`<tool_response>` text. Each one must come out as the product promises: a call runs as a
call, protocol is never posted, a call that keeps failing stops the turn with a note.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.service import Service
from tests.e2e.harness import ALICE, eventually, post_event, service_settings, serving, turns
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

RECORDED = json.loads((Path(__file__).with_name("recorded") / "outputs.json").read_text())
CALLS = [r for r in RECORDED["replies"] if r["kind"] == "call"]
PROTOCOL = [r for r in RECORDED["replies"] if r["kind"] == "protocol"]
INVENTED = [r for r in RECORDED["replies"] if r["kind"] == "invented"]
LEAKS = ("turn_id=", "<tool_call>", "<tool_response>", '"arguments"', "<|im_")


def ids(replies: list[dict[str, Any]]) -> list[str]:
    return [f"{r['model'].split('-instruct')[0]}-{r['shape']}" for r in replies]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, slack: FakeSlack
) -> AsyncIterator[Service]:
    state = tmp_path_factory.mktemp("state")
    # The embedded model's setting for any endpoint: calls written as text are repaired.
    settings = service_settings(state, model.base_url, slack.api_url, model_tool_text="repair")
    async with serving(settings, slack) as svc:
        yield svc


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


def tool_results(request: ModelRequest) -> list[str]:
    return [str(m.get("content")) for m in request.tool_results]


async def a_turn(service: Service, model: ScriptedModel, job: str, **event: Any) -> dict[str, Any]:
    """Post an event for `job` and wait for its turn to be recorded; the turn's row."""
    before = len(turns(service.state_dir, f"job:{job}"))
    await post_event(
        service.url, service.secret, type=event.pop("type", "crashed"), job=job, **event
    )
    rows = await eventually(
        lambda: [r for r in turns(service.state_dir, f"job:{job}") if r["outcome"]][before:],
        timeout=120,
    )
    return rows[-1]


@pytest.mark.parametrize("recorded", CALLS, ids=ids(CALLS))
async def test_a_call_written_as_text_runs_as_a_call(
    service: Service, model: ScriptedModel, slack: FakeSlack, recorded: dict[str, Any]
) -> None:
    job = f"rec/call-{recorded['shape']}"

    def handler(request: ModelRequest) -> Reply:
        if request.tool_results:  # the call ran: the model reads its result and answers
            return Reply.text(f"Checked {job}: done.")
        return Reply.text(recorded["text"])

    model.handler = handler
    row = await a_turn(service, model, job)
    assert row["outcome"] == "posted" and row["reason"] == "ok"
    assert len(model.requests) == 2
    (result,) = tool_results(model.requests[1])
    # The tool ran: what came back is the skill's answer (or its refusal), not opencode's
    # "no such tool" or "invalid arguments".
    assert "unavailable tool" not in result and "arguments provided" not in result, result
    post = await slack.wait_for_post(lambda p: f"Checked {job}" in p.text, timeout=30)
    assert not any(leak in post.text for leak in LEAKS)


async def test_a_call_written_until_the_output_limit_runs_once(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    # Seen from the 0.5B: the recorded call written over and over in one reply until the
    # output limit cut it. opencode asked a person before the third and failed the turn.
    job, (recorded,) = "rec/call-many", CALLS

    def handler(request: ModelRequest) -> Reply:
        if request.tool_results:
            return Reply.text(f"Checked {job}: done.")
        return Reply(content=(recorded["text"] + "\n") * 12 + recorded["text"][:9], finish="length")

    model.handler = handler
    row = await a_turn(service, model, job)
    assert (row["outcome"], row["reason"]) == ("posted", "ok")
    assert len(tool_results(model.requests[1])) == 1
    await slack.wait_for_post(lambda p: f"Checked {job}" in p.text, timeout=30)


@pytest.mark.parametrize("recorded", PROTOCOL, ids=ids(PROTOCOL))
async def test_protocol_written_as_a_reply_is_never_posted(
    service: Service, model: ScriptedModel, slack: FakeSlack, recorded: dict[str, Any]
) -> None:
    seen = len(slack.posts())
    # The recording is the model's reply to this very input: replayed to the same input, with
    # what differs now (the turn id, the time it arrived) as it is now.
    model.handler = lambda request: Reply.text(_as_now(recorded, request.last_user_text))
    if "event" in recorded:
        event = {k: v for k, v in recorded["event"].items() if k != "job"}
        row = await a_turn(service, model, recorded["event"]["job"], **event)
    else:
        before = len(turns(service.state_dir))
        await slack.send_message(ALICE, recorded["message"], channel="DREC")
        rows = await eventually(
            lambda: [r for r in turns(service.state_dir)[before:] if r["outcome"]], timeout=120
        )
        row = rows[-1]
    assert row["outcome"] == "silent" and row["reason"] == "protocol_only"
    assert slack.posts()[seen:] == []


@pytest.mark.parametrize("recorded", INVENTED, ids=ids(INVENTED))
async def test_a_call_that_keeps_failing_stops_the_turn_with_a_note(
    service: Service, model: ScriptedModel, slack: FakeSlack, recorded: dict[str, Any]
) -> None:
    job = f"rec/loop-{recorded['shape']}"
    model.handler = lambda request: Reply.text(recorded["text"])  # the same call, every time
    row = await a_turn(service, model, job)
    assert (row["outcome"], row["reason"]) == ("posted", "repeated_call")
    # Two failures, then the third identical call is not run: no fourth request either.
    assert len(model.requests) == 3
    failures = tool_results(model.requests[2])
    assert len(failures) == 2 and failures[0] == failures[1]
    note = await slack.wait_for_post(lambda p: "Turn stopped by the service" in p.text, timeout=30)
    assert "called 3 times with the same arguments" in note.text
    assert ALICE not in note.text


def _as_now(recorded: dict[str, Any], turn_input: str) -> str:
    """The recorded reply with each line of the recorded input it quotes replaced by the
    same line of this turn's input (the same event: only the ids and times differ)."""
    text = recorded["text"]
    then, now = recorded["turn_input"].splitlines(), turn_input.splitlines()
    assert len(then) == len(now), (then, now)
    for old, new in zip(then, now, strict=True):
        if old.strip():
            text = text.replace(old, new)
    return text
