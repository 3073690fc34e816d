"""Issue 10, through the whole service: a dead skill is back for the next turn, and a
brief edit reaches the model without restarting the service (a broken one is refused,
and said once).

One service for the module, with its own copy of the brief to edit.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from agent.opencode.liveness import children
from agent.service import Service
from core.lifetime import command_line, process_start_time
from tests.conftest import ROOT
from tests.e2e.harness import NOTIFY, eventually, post_event, service_settings, serving
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def brief_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("brief") / "brief"
    shutil.copytree(ROOT / "brief", copy)
    return copy


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, slack: FakeSlack, brief_dir
) -> AsyncIterator[Service]:
    state = tmp_path_factory.mktemp("state")
    settings = service_settings(
        state,
        model.base_url,
        slack.api_url,
        brief_dir=brief_dir,
        digest_time=None,  # only the turns the tests make
        tick_interval_s=None,
    )
    async with serving(settings, slack) as svc:
        yield svc


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


def skill_pid(service: Service, name: str) -> int | None:
    for pid in children(service.runtime.pid):
        if (command_line(pid) or [])[-3:] == ["-m", "mcp_servers", name]:
            return pid
    return None


async def turn(service: Service, model: ScriptedModel, slack: FakeSlack, job: str, reply: str):
    """One event turn for `job`; the model's last request of it."""
    model.push(Reply.text(reply))
    before = len(model.requests)
    await post_event(service.url, service.secret, type="epoch", job=job, epoch=1)
    await slack.wait_for_post(lambda p: p.text == reply, timeout=90)
    assert len(model.requests) == before + 1
    return model.requests[-1]


def aiqu_tools(request: ModelRequest) -> list[str]:
    return [n for n in request.tool_names if n.startswith("aiqu_")]


async def test_a_killed_skill_is_back_for_the_next_turn_of_the_conversation(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    first = await turn(service, model, slack, "cust-u/skill", "epoch 1 noted")
    assert "aiqu_list_jobs" in aiqu_tools(first)
    old = skill_pid(service, "aiqu")
    assert old is not None

    os.kill(old, signal.SIGKILL)
    await eventually(lambda: process_start_time(old) is None, timeout=10)

    second = await turn(service, model, slack, "cust-u/skill", "epoch 2 noted")
    assert aiqu_tools(second) == aiqu_tools(first)
    assert skill_pid(service, "aiqu") not in (None, old)
    assert first.headers.get("x-session-id") == second.headers.get("x-session-id")


async def test_a_brief_edit_reaches_the_model_without_a_service_restart(
    service: Service, model: ScriptedModel, slack: FakeSlack, brief_dir: Path
) -> None:
    edit = "Sign every message with the word PELICAN."
    before = await turn(service, model, slack, "cust-u/brief", "before the edit")
    assert edit not in before.system
    opencode_pid, old_hash = service.runtime.pid, service.brief.current.digest

    who = brief_dir / "00-who.md"
    who.write_text(who.read_text() + "\n" + edit + "\n")
    after = await turn(service, model, slack, "cust-u/brief", "after the edit")

    assert edit in after.system
    assert service.runtime.pid != opencode_pid  # opencode restarted between turns …
    assert service.brief.current.digest != old_hash
    async with httpx.AsyncClient() as client:  # … the service did not
        metrics = (await client.get(f"{service.url}/metrics")).text
    assert f'mlops_brief_info{{sha256="{service.brief.current.digest}"}} 1.0' in metrics
    assert 'mlops_opencode_restarts_total{reason="brief"} 1.0' in metrics


async def test_a_broken_brief_edit_keeps_the_running_brief_and_is_said_once(
    service: Service, model: ScriptedModel, slack: FakeSlack, brief_dir: Path
) -> None:
    running = service.brief.current
    when = brief_dir / "10-when-to-speak.md"
    when.write_text(when.read_text().replace("{silence_marker}", "nothing"))
    opencode_pid = service.runtime.pid

    for n in (1, 2):
        request = await turn(service, model, slack, "cust-u/broken", f"broken brief turn {n}")
        assert request.system.count("<silent/>") == running.prompt.count("<silent/>") > 0

    assert service.runtime.pid == opencode_pid and service.brief.current == running
    notices = [p for p in slack.posts(NOTIFY) if p.text.startswith("Brief edit not applied")]
    assert len(notices) == 1 and notices[0].thread_ts is None
    assert "{silence_marker}" in notices[0].text and running.short in notices[0].text


async def test_a_rate_limited_reply_is_posted_once_after_the_wait_for_one_model_request(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    slack.rate_limit("chat.postMessage", times=2, retry_after_s=1)
    calls = slack.api_calls.count("chat.postMessage")

    await turn(service, model, slack, "cust-u/limited", "epoch 1 of a busy channel")

    assert [p.text for p in slack.posts()].count("epoch 1 of a busy channel") == 1
    assert slack.api_calls.count("chat.postMessage") == calls + 3  # two 429s, then the post
    assert len(model.requests) == 1
