"""Issue 2's acceptance 7, 8 and 10: nothing accepted is lost when parts die.

Each test gets its own service: they kill things.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from agent.chat.slack import CONNECTION_RETRIES
from agent.service import Service
from agent.settings import new_webhook_secret
from tests.conftest import OPENCODE_BIN, ROOT, free_port
from tests.e2e.harness import (
    ALICE,
    NOTIFY,
    eventually,
    inbox_states,
    post_event,
    service_settings,
    turns,
)
from tests.fakes import slack as fake_slack
from tests.fakes.model import Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


@pytest_asyncio.fixture(loop_scope="module")
async def service(tmp_path: Path, model: ScriptedModel, slack: FakeSlack) -> AsyncIterator[Service]:
    svc = Service(
        service_settings(
            tmp_path / "state",
            model.base_url,
            slack.api_url,
            model_check_interval_s=0.3,
            model_down_grace_s=1.0,
        )
    )
    await svc.start()
    yield svc
    await svc.stop()


async def test_opencode_killed_mid_turn_is_restarted_and_the_reply_posted_once(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.delay_s = 3.0
    model.push(Reply.text("Crashed\ncust-r/oc-kill — OOM"))
    await post_event(service.url, service.secret, type="crashed", job="cust-r/oc-kill")
    await model.wait_for_requests(1, timeout_s=60)
    old_pid = service.runtime.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    model.delay_s = 0.0
    await slack.wait_for_post(lambda p: p.text.startswith("Crashed\ncust-r/oc-kill"), timeout=90)
    await asyncio.sleep(1.5)  # a duplicate would show up here
    posts = [p for p in slack.posts() if p.text.startswith("Crashed\ncust-r/oc-kill")]
    assert len(posts) == 1
    assert service.runtime.pid not in (None, old_pid)
    (turn,) = turns(service.state_dir, "job:cust-r/oc-kill")
    assert (turn["outcome"], turn["reason"]) == ("posted", "ok")


async def test_model_down_events_wait_one_notice_then_resume(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.down = True
    await eventually(lambda: service.engine.paused, timeout=10)
    for epoch in (1, 2):
        r = await post_event(
            service.url, service.secret, type="epoch", job="cust-r/down", epoch=epoch
        )
        assert r.status_code == 202  # still accepted and persisted
    notice = await slack.wait_for_post(lambda p: "unreachable" in p.text, timeout=15)
    assert notice.channel == NOTIFY and notice.thread_ts is None
    await asyncio.sleep(1.5)
    assert len([p for p in slack.posts() if "unreachable" in p.text]) == 1  # one, not one per check
    assert inbox_states(service.state_dir).get("ready") == 2
    assert model.requests == []

    model.push(Reply.text("Epochs 1-2 of cust-r/down"))
    model.down = False
    await slack.wait_for_post(lambda p: "reachable again" in p.text, timeout=15)
    reply = await slack.wait_for_post(lambda p: p.text.startswith("Epochs 1-2"), timeout=60)
    assert reply.channel == NOTIFY
    assert "epoch=1" in model.requests[0].last_user_text
    assert "epoch=2" in model.requests[0].last_user_text


def service_env(state: Path, model: ScriptedModel, slack: FakeSlack, port: int, secret: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "SLACK_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        MLOPS_STATE_DIR=str(state),
        MLOPS_MODEL_BASE_URL=model.base_url,
        MLOPS_MODEL=model.model_id,
        MLOPS_WEBHOOK_SECRET=secret,
        MLOPS_PORT=str(port),
        MLOPS_ALLOWED_USERS=ALICE,
        MLOPS_NOTIFY_CHANNEL=NOTIFY,
        MLOPS_SLACK_API_URL=slack.api_url,
        SLACK_BOT_TOKEN=fake_slack.BOT_TOKEN,
        SLACK_APP_TOKEN=fake_slack.APP_TOKEN,
        MLOPS_OPENCODE_BIN=str(OPENCODE_BIN),
        MLOPS_MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}",
        MLOPS_LOCAL_GPUS="1",
        MLOPS_DIGEST_TIME="",  # no digest turn of its own (see harness.service_settings)
    )
    return env


@dataclass(frozen=True)
class Supervised:
    """What a test needs to run `mlops-agent serve` as a process of its own."""

    state: Path
    url: str
    secret: str
    env: dict[str, str]


def supervised(
    tmp_path: Path, model: ScriptedModel, slack: FakeSlack, *, embedded_mlflow: bool = False
) -> Supervised:
    """A state dir, port and secret of its own; the embedded MLflow server only if asked."""
    state, port, secret = tmp_path / "state", free_port(), new_webhook_secret()
    env = service_env(state, model, slack, port, secret)
    if embedded_mlflow:
        del env["MLOPS_MLFLOW_TRACKING_URI"]
    return Supervised(state, f"http://127.0.0.1:{port}", secret, env)


async def start_supervisor(
    env: dict[str, str],
    url: str,
    cwd: Path,
    timeout_s: float = 180.0,
    *,
    until: str = "/healthz",
    own_group: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `mlops-agent serve`; it answers once opencode, its skills and a warm-up turn are up
    (a minute and more on a loaded 2-core machine). `until`: the path that must answer 200;
    `own_group`: in a process group of its own, which a test may SIGKILL whole."""
    log = open(cwd / "supervisor.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve"],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout_s * 10)):
            try:
                if (await client.get(f"{url}{until}", timeout=1)).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (cwd / "supervisor.log").read_text()[-3000:]
            await asyncio.sleep(0.1)
    raise TimeoutError("supervisor did not come up")


def stop_supervisor(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """SIGTERM, as an operator's stop; SIGKILL only if it is still there after `timeout_s`."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_supervisor_sigkilled_with_work_queued_loses_nothing(
    tmp_path: Path, model: ScriptedModel, slack: FakeSlack
) -> None:
    run = supervised(tmp_path, model, slack)
    state, url, secret, env = run.state, run.url, run.secret, run.env
    proc = await start_supervisor(env, url, tmp_path)
    try:
        model.delay_s = 30.0  # the first turn is still in flight when the supervisor dies
        await post_event(url, secret, type="crashed", job="cust-r/kill-a")
        await model.wait_for_requests(1, timeout_s=60)
        for job in ("cust-r/kill-a", "cust-r/kill-b", "cust-r/kill-c"):
            assert (await post_event(url, secret, type="epoch", job=job)).status_code == 202
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert inbox_states(state).get("done", 0) == 0

        model.delay_s = 0.0
        model.default_reply = Reply.text("<silent/>")
        proc = await start_supervisor(env, url, tmp_path)
        await eventually(lambda: inbox_states(state) == {"done": 4}, timeout=120)
        seen = "\n".join(r.last_user_text for r in model.requests[1:])
        assert "event crashed" in seen and "job=cust-r/kill-a" in seen
        for job in ("cust-r/kill-b", "cust-r/kill-c"):
            assert f"job={job}" in seen
        # The first start made the web page's operator and printed its one-time link; the
        # restart printed none, and no log line ever held one.
        said = (tmp_path / "supervisor.log").read_text().splitlines()
        links = [line for line in said if "/login/once?token=" in line]
        assert len(links) == 1 and links[0].startswith("web page: sign in as 'operator'"), links
    finally:
        model.default_reply = Reply.text("ok")
        stop_supervisor(proc, 30)
    assert proc.returncode == 0, "SIGTERM should stop the supervisor cleanly"


async def test_a_reply_that_cannot_be_posted_is_kept_and_posted_once(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    service.engine.retry_after_error_s = 0.5
    # Two posts in a row fail even after the Slack client's own retries of each.
    refused = 2 * (CONNECTION_RETRIES + 1)
    slack.drop_connection("chat.postMessage", times=refused)
    calls_before, asked_before = slack.api_calls.count("chat.postMessage"), len(model.requests)
    model.default_reply = Reply.text("Finished cust-r/unposted")
    try:
        await post_event(service.url, service.secret, type="finished", job="cust-r/unposted")
        post = await slack.wait_for_post(lambda p: p.text == "Finished cust-r/unposted", timeout=60)
        assert post.channel == NOTIFY
        await eventually(lambda: inbox_states(service.state_dir) == {"done": 1})
        assert slack.api_calls.count("chat.postMessage") - calls_before == refused + 1
        asked = [r for r in model.requests[asked_before:] if "cust-r/unposted" in r.last_user_text]
        assert len(asked) == 1  # the reply was kept, not asked for again
        [turn] = turns(service.state_dir, "job:cust-r/unposted")
        assert (turn["outcome"], turn["reason"]) == ("posted", "ok")
        assert [p.text for p in slack.posts()].count("Finished cust-r/unposted") == 1
    finally:
        model.default_reply = Reply.text("ok")
