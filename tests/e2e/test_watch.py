"""Issue 23 end to end: the real service watches the scheduler, and people submit jobs.

Real opencode, the real aiqu skill and watch process, real jobs on the local
scheduler reporting through the real reporter, a scripted model and a fake
Slack. Jobs are queued with the real `mlops-agent submit` command.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.service import Service
from agent.settings import Settings
from tests.aiqu.conftest import kill_leftovers
from tests.conftest import ROOT
from tests.e2e.harness import ALICE, eventually, job_events, service_settings, serving, turns
from tests.e2e.skills_fixtures import HEADER, tool_json, tool_text, turn_id_of
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.fakes.slack import FakeSlack, Post

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SILENT = "<silent/>"
TIMEOUT_S = 90
# Reports a start and two epochs, waits until they are delivered, then dies as the
# kernel's OOM killer kills: SIGKILL, so no crashed event can leave.
KILLED = """\
import os, signal
from mlops_reporter import Reporter
r = Reporter()
r.started(epochs=60)
r.epoch(1, total=60, metrics={"val_loss": 0.9})
r.epoch(2, total=60, metrics={"val_loss": 0.8})
assert r.flush(20)
os.kill(os.getpid(), signal.SIGKILL)
"""
SLEEPER = """\
import time
from mlops_reporter import Reporter
r = Reporter()
r.started(epochs=60)
assert r.flush(20)
time.sleep(600)
"""


def watching(state: Path, model: ScriptedModel, slack: FakeSlack, **kw: Any) -> Settings:
    kw = {"watch_interval_s": 0.5, "watch_grace_s": 1.0, "local_gpus": 2, **kw}
    return service_settings(state, model.base_url, slack.api_url, **kw)


def submit(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`mlops-agent submit …` as a person runs it on the service's machine."""
    env = {
        **os.environ,
        "MLOPS_STATE_DIR": str(settings.state_dir),
        "MLOPS_LOCAL_GPUS": str(settings.local_gpus),
        "MLOPS_PORT": str(settings.port),
        "PYTHONPATH": str(ROOT),  # the job imports the reporter from this checkout
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "submit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def queued_id(stdout: str) -> str:
    return stdout.split("queued job ", 1)[1].split(":", 1)[0]


def watch_items(state: Path, conversation: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(state / "service.sqlite")
    try:
        rows = conn.execute(
            "SELECT payload FROM inbox WHERE kind = 'watch' AND conversation = ?", (conversation,)
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def conversation_of(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message["role"] == "user" and (found := HEADER.match(tool_text(message))):
            return found["conversation"]
    return ""


def thread_of(slack: FakeSlack, root: Post) -> list[Post]:
    return [p for p in slack.posts() if p.kind == "post" and p.thread_ts == root.ts]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, slack: FakeSlack
) -> AsyncIterator[Service]:
    state = tmp_path_factory.mktemp("state")
    try:
        async with serving(watching(state, model, slack), slack) as svc:
            yield svc
    finally:
        kill_leftovers(state)  # the jobs run in sessions of their own: they outlive the service


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


def speaks_on(*words: str) -> Any:
    """A model that stays silent unless the turn's text holds one of `words`."""

    def reply(request: ModelRequest) -> Reply:
        text = request.last_user_text
        hit = next((w for w in words if w in text), None)
        return Reply.text(f"{hit}: {text.splitlines()[-1][:300]}") if hit else Reply.text(SILENT)

    return reply


async def test_a_job_killed_without_a_word_is_one_item_one_request_one_post_in_its_thread(
    service: Service, model: ScriptedModel, slack: FakeSlack, tmp_path: Path
) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    model.handler = speaks_on("event started", "watch ")
    code, out, err = submit(
        service.settings, "--name", "cust-w/oom", "--", sys.executable, str(script)
    )
    assert code == 0, err

    root = await slack.wait_for_post(lambda p: "event started" in p.text, timeout=TIMEOUT_S)
    post = await slack.wait_for_post(lambda p: p.text.startswith("watch "), timeout=TIMEOUT_S)

    assert post.thread_ts == root.ts
    assert "cust-w/oom attempt 1" in post.text and "killed by signal 9 (SIGKILL)" in post.text
    watched = [
        r
        for r in model.requests
        if "watch" in r.last_user_text and "cust-w/oom" in r.last_user_text
    ]
    assert len(watched) == 1
    assert "Last event: epoch epoch=2 total=60" in watched[0].last_user_text
    await eventually(
        lambda: all(t["outcome"] for t in turns(service.state_dir, "job:cust-w/oom")),
        timeout=TIMEOUT_S,
    )
    assert len(watch_items(service.state_dir, "job:cust-w/oom")) == 1
    assert len(thread_of(slack, root)) == 1


async def test_submit_queues_a_job_that_reports_into_its_thread(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.default_reply = Reply.text("noted")
    code, out, err = submit(
        service.settings, "--name", "cust-w/minimal", "--owner", "ann", "--",
        sys.executable, "examples/train_minimal.py", "--epochs", "3",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("queued job ") and "cust-w/minimal, attempt 1" in out

    # The job's story ends with its `finished` event or, on a loaded machine where the
    # reporter's bounded exit flush left `finished` in its spool, with the watcher's item
    # for a job that ended without a word: either way in the job's own thread.
    events = await eventually(
        lambda: (
            [e["type"] for e in job_events(service.state_dir, "cust-w/minimal")][:4]
            == ["started", "epoch", "epoch", "epoch"]
            and (
                len(job_events(service.state_dir, "cust-w/minimal")) == 5
                or watch_items(service.state_dir, "job:cust-w/minimal")
            )
            and job_events(service.state_dir, "cust-w/minimal")
        ),
        timeout=TIMEOUT_S,
    )
    assert [e["type"] for e in events[4:]] in ([], ["finished"])
    await eventually(
        lambda: (
            len([t for t in turns(service.state_dir, "job:cust-w/minimal") if t["outcome"]]) >= 1
            and all(t["outcome"] for t in turns(service.state_dir, "job:cust-w/minimal"))
        ),
        timeout=TIMEOUT_S,
    )
    assert {e["attempt"] for e in events} == {1} and {e["owner"] for e in events} == {"ann"}
    posts = [p for p in slack.posts() if p.kind == "post" and p.text == "noted"]
    roots = [p for p in posts if p.thread_ts is None]
    assert len(roots) == 1 and all(p.thread_ts == roots[0].ts for p in posts[1:])


async def test_the_agents_tools_list_clone_and_cancel_a_submitted_job(
    service: Service, model: ScriptedModel, slack: FakeSlack, tmp_path: Path
) -> None:
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    model.default_reply = Reply.text(SILENT)
    code, out, err = submit(
        service.settings,
        "--name",
        "cust-w/sleeper",
        "--gpus",
        "1",
        "--",
        sys.executable,
        str(script),
    )
    assert code == 0, err
    job_id = queued_id(out)
    await eventually(
        lambda: [e["type"] for e in job_events(service.state_dir, "cust-w/sleeper")] == ["started"],
        timeout=TIMEOUT_S,
    )
    results: list[tuple[str, Any]] = []

    def agent(request: ModelRequest) -> Reply:
        if not conversation_of(request).startswith("chat:DW:"):
            return Reply.text(SILENT)  # the jobs' own turns (the clone reports too)
        last = request.messages[-1]
        if last["role"] == "tool":
            results.append((results_pending.pop(0), tool_json(last)))
        if not plan:
            return Reply.text("done")
        name, args = plan.pop(0)
        args = {k: (turn_id_of(request) if v == "<turn>" else v) for k, v in args.items()}
        if name == "aiqu_cancel_job" and args["job"] == "<clone>":
            args["job"] = results[1][1]["job"]["id"]
        results_pending.append(name)
        return Reply.tool_calls((name, args))

    plan: list[tuple[str, dict[str, Any]]] = [
        ("aiqu_list_jobs", {"name": "cust-w/sleeper", "state": "active"}),
        ("aiqu_submit_job", {"from_job": "cust-w/sleeper", "params": {"tag": "clone"}}),
        ("aiqu_cancel_job", {"job": "<clone>"}),
        ("aiqu_cancel_job", {"job": job_id, "turn_id": "<turn>"}),
    ]
    results_pending: list[str] = []
    model.handler = agent
    await slack.send_message(ALICE, "clone the sleeper, stop the clone, then stop it", channel="DW")
    await slack.wait_for_post(lambda p: p.text == "done", timeout=TIMEOUT_S)

    listed, cloned, cancelled, proposed = (r for _, r in results)
    assert [(j["id"], j["submitted_by"]) for j in listed["jobs"]] == [(job_id, getpass.getuser())]
    assert cloned["job"]["name"] == "cust-w/sleeper" and cloned["job"]["attempt"] == 2
    assert cloned["job"]["labels"]["submitted_by"] == "agent"
    assert cloned["job"]["command"][-1] == "--tag=clone"
    assert cancelled["job"]["state"] == "cancelled"
    # Not the agent's job: cancelling it is a proposal a person must approve first.
    assert proposed["proposal_id"] and proposed["job"]["state"] == "running"


async def test_a_restart_between_the_death_and_the_next_pass_still_tells_it_once(
    model: ScriptedModel, slack: FakeSlack, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    model.default_reply = Reply.text(SILENT)
    once_an_hour = watching(state, model, slack, watch_interval_s=3600)
    try:
        async with serving(once_an_hour, slack) as first:  # its one pass is at its start
            code, _, err = submit(
                first.settings, "--name", "cust-w/restart", "--", sys.executable, str(script)
            )
            assert code == 0, err
            await eventually(
                lambda: len(job_events(state, "cust-w/restart")) == 3, timeout=TIMEOUT_S
            )
            await eventually(lambda: _ended(state, "cust-w/restart"), timeout=TIMEOUT_S)
            await eventually(lambda: _settled(state, "job:cust-w/restart"), timeout=TIMEOUT_S)
        assert watch_items(state, "job:cust-w/restart") == []
        for _ in range(2):  # the next service's passes, then another restart's
            async with serving(watching(state, model, slack), slack):
                await eventually(
                    lambda: watch_items(state, "job:cust-w/restart"), timeout=TIMEOUT_S
                )
                await eventually(lambda: _settled(state, "job:cust-w/restart"), timeout=TIMEOUT_S)
    finally:
        kill_leftovers(state)

    items = watch_items(state, "job:cust-w/restart")
    assert [i["fact"] for i in items] == ["ended"] and items[0]["exit_code"] == -9
    # (The module's other service shares the model: count this job's turns only.)
    watched = [
        r
        for r in model.requests
        if "watch " in r.last_user_text and "cust-w/restart" in r.last_user_text
    ]
    assert len(watched) == 1


def _settled(state: Path, conversation: str) -> bool:
    """Every item of the conversation answered by a finished turn."""
    conn = sqlite3.connect(state / "service.sqlite")
    try:
        (waiting,) = conn.execute(
            "SELECT count(*) FROM inbox WHERE conversation = ? AND state != 'done'", (conversation,)
        ).fetchone()
    finally:
        conn.close()
    return waiting == 0


def _ended(state: Path, name: str) -> bool:
    conn = sqlite3.connect(state / "aiqu" / "local.sqlite")
    try:
        row = conn.execute("SELECT state FROM jobs WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()
    return row is not None and row[0] == "failed"
