"""Issue 2's acceptance, end to end: real opencode, real skills, scripted model, fake Slack.

One service serves the module (opencode's start is the expensive part); each
test uses its own job names so conversations never overlap, and resets the
model's script.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from agent.service import Service
from tests.e2e.harness import (
    ALICE,
    MALLORY,
    NOTIFY,
    eventually,
    inbox_states,
    post_event,
    service_settings,
    serving,
    turns,
)
from tests.fakes.model import Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SILENT = "<silent/>"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 88, in <module>\n'
    "    loss.backward()\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB"
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, slack: FakeSlack
) -> AsyncIterator[Service]:
    state = tmp_path_factory.mktemp("state")
    async with serving(service_settings(state, model.base_url, slack.api_url), slack) as svc:
        yield svc


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


def user_texts(model: ScriptedModel) -> list[str]:
    return [r.last_user_text for r in model.requests]


async def test_crash_event_reaches_model_and_reply_lands_in_job_thread(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.push(Reply.text("Crashed\ncust-a/pcb-v2 — epoch 12\nCUDA OOM"))
    r = await post_event(
        service.url,
        service.secret,
        type="crashed",
        job="cust-a/pcb-v2",
        epoch=12,
        traceback=TRACEBACK,
    )
    assert r.status_code == 202
    root = await slack.wait_for_post(lambda p: "cust-a/pcb-v2 — epoch 12" in p.text, timeout=60)
    assert root.channel == NOTIFY and root.thread_ts is None  # it starts the job's thread
    assert len(model.requests) == 1
    prompt = model.requests[0].last_user_text
    assert "cust-a/pcb-v2" in prompt and "torch.OutOfMemoryError: CUDA out of memory" in prompt

    # The job's next message goes into that thread.
    model.push(Reply.text("Requeued, attempt 2"))
    await post_event(service.url, service.secret, type="started", job="cust-a/pcb-v2", attempt=2)
    reply = await slack.wait_for_post(lambda p: p.text.startswith("Requeued"), timeout=60)
    assert reply.thread_ts == root.ts


async def test_silence_marker_posts_nothing_and_is_recorded(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.push(Reply.text(SILENT))
    before = len(slack.posts())
    await post_event(service.url, service.secret, type="epoch", job="cust-a/quiet", epoch=3)
    done = await eventually(
        lambda: [t for t in turns(service.state_dir, "job:cust-a/quiet") if t["outcome"]]
    )
    assert done[0]["outcome"] == "silent" and done[0]["reason"] == "ok"
    await asyncio.sleep(0.5)
    assert len(slack.posts()) == before


async def test_events_arriving_while_busy_become_one_next_turn_in_order(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.delay_s = 2.0  # hold the first turn open
    await post_event(service.url, service.secret, type="epoch", job="cust-a/busy", epoch=1)
    await model.wait_for_requests(1, timeout_s=60)
    for epoch in (2, 3, 4):
        await post_event(service.url, service.secret, type="epoch", job="cust-a/busy", epoch=epoch)
    model.delay_s = 0.0
    await eventually(
        lambda: (
            len(turns(service.state_dir, "job:cust-a/busy")) == 2
            and all(t["outcome"] for t in turns(service.state_dir, "job:cust-a/busy"))
        )
    )
    assert len(model.requests) == 2
    second = model.requests[1].last_user_text
    assert "items=3" in second
    positions = [second.index(f"epoch={n}") for n in (2, 3, 4)]
    assert positions == sorted(positions)


async def test_dm_from_allowed_user_is_answered_in_place(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.push(Reply.text("2 jobs running"))
    ts = await slack.send_message(ALICE, "what's running?", channel="DALICE")
    reply = await slack.wait_for_post(lambda p: p.text == "2 jobs running", timeout=60)
    assert reply.channel == "DALICE" and reply.thread_ts == ts
    assert "what's running?" in model.requests[0].last_user_text


async def test_dm_from_unlisted_user_costs_no_model_request(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    before = len(slack.posts())
    envelope_count = len(slack.sent_envelopes)
    await slack.send_message(MALLORY, "what's running?", channel="DMALLORY")
    await eventually(lambda: len(slack.acked) >= envelope_count + 1)  # Slack got its ack
    await asyncio.sleep(1.0)
    assert model.requests == []
    assert len(slack.posts()) == before
    assert not any("DMALLORY" in t["conversation"] for t in turns(service.state_dir))


async def test_reply_in_job_thread_continues_the_jobs_session(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.push(Reply.text("Finished cust-a/thread-job: mAP 0.91"))
    await post_event(
        service.url, service.secret, type="finished", job="cust-a/thread-job", metrics={"mAP": 0.91}
    )
    root = await slack.wait_for_post(
        lambda p: p.text.startswith("Finished cust-a/thread-job"), timeout=60
    )
    model.push(Reply.text("It beat the previous best by 0.02"))
    await slack.send_message(
        ALICE,
        "was that better than before?",
        channel=NOTIFY,
        channel_type="channel",
        thread_ts=root.ts,
    )
    reply = await slack.wait_for_post(lambda p: p.text.startswith("It beat"), timeout=60)
    assert reply.thread_ts == root.ts
    first, second = model.requests
    # Same opencode session: the person's turn carries the job's event in its history.
    history = " ".join(str(m.get("content")) for m in second.messages)
    assert "event finished" in history and "conversation=job:cust-a/thread-job" in history
    assert first.headers.get("x-session-id") == second.headers.get("x-session-id")


async def test_bad_webhook_input_spends_no_model_token_and_queues_nothing(
    service: Service, model: ScriptedModel
) -> None:
    import httpx

    before = sum(inbox_states(service.state_dir).values())
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{service.url}/hooks/training",
            content=b'{"type":"x","job":"y"}',
            headers={
                "webhook-id": "msg_x",
                "webhook-timestamp": "1",
                "webhook-signature": "v1,bad",
            },
        )
        assert r.status_code == 401
        big = b'{"type":"x","job":"y","pad":"' + b"x" * 300 * 1024 + b'"}'
        r = await client.post(f"{service.url}/hooks/training", content=big)
        assert r.status_code == 413
    await asyncio.sleep(0.5)
    assert sum(inbox_states(service.state_dir).values()) == before
    assert model.requests == []


async def test_model_sees_only_skill_tools(service: Service, model: ScriptedModel) -> None:
    model.push(Reply.text(SILENT))
    await post_event(service.url, service.secret, type="epoch", job="cust-a/tools", epoch=1)
    request = await model.wait_for_requests(1, timeout_s=60)
    names = request.tool_names
    assert names, "the skills' tools should reach the model"
    assert all(n.startswith(("aiqu_", "mlflow_", "datasets_")) for n in names), names
    for builtin in ("bash", "edit", "write", "read", "webfetch", "question", "todowrite", "task"):
        assert builtin not in names


async def test_readyz_reports_opencode_and_model(service: Service) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        r = await client.get(f"{service.url}/readyz")
        metrics = (await client.get(f"{service.url}/metrics")).text
    assert r.status_code == 200
    assert r.json() == {"ready": True, "opencode": True, "model": True}
    assert 'mlops_turns_total{outcome="silent",reason="ok"}' in metrics


async def test_a_quoted_broadcast_reaches_slack_as_plain_text(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    """A traceback carrying <!channel>, quoted back by the model, notifies nobody."""
    traceback = TRACEBACK + "\nValueError: alert hook said '<!channel> job died' (<!here>, @room)"
    job = "safety/broadcast-quote"
    model.handler = lambda request: (
        Reply.text("Crashed: " + request.last_user_text.split("ValueError: ", 1)[-1])
        if job in request.last_user_text
        else Reply.text(SILENT)
    )
    r = await post_event(service.url, service.secret, type="crashed", job=job, traceback=traceback)
    assert r.status_code == 202

    post = await slack.wait_for_post(lambda p: p.text.startswith("Crashed:"), timeout=60)
    assert "job died" in post.text  # the quote is there…
    assert "<!" not in post.text and "@room" not in post.text  # …but pings no one
    assert "<!channel>" in model.requests[-1].last_user_text  # the model saw it as sent
