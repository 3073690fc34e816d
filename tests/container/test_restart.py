"""Stops and crashes of the container lose nothing: a SIGKILL, a `stop` with a turn in flight,
a SIGKILL in the middle of a storm of events (issue 27).

Each test runs two containers one after the other on the same volume, as a
restart policy or an operator would.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest

from tests.conftest import free_port
from tests.container.conftest import Launch, figure
from tests.container.engine import Engine
from tests.container.service import STOP_TIMEOUT_S, Secrets, ServiceContainer
from tests.e2e.harness import post_event
from tests.e2e.storm import DELIVERY_S, Storm
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.container, pytest.mark.asyncio(loop_scope="module")]

HANG_S = 120.0  # the model's delay that keeps a turn in flight for the whole test


def without_mlflow() -> dict[str, str]:
    """No embedded MLflow where a test does not need it (it is most of a cold start):
    the mlflow skill points at a closed port instead, as in the end-to-end tests."""
    return {"MLOPS_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}


def answer_naming_the_job(request: ModelRequest) -> Reply:
    job = re.search(r"job=(\S+)", request.last_user_text)
    return Reply.text(f"answered {job.group(1) if job else '?'}")


def answers(slack: FakeSlack, job: str) -> int:
    return len([p for p in slack.posts() if p.text == f"answered {job}"])


async def test_events_queued_at_a_sigkill_are_each_answered_once_after_a_restart(
    launch: Launch, engine: Engine, secrets_: Secrets, model: ScriptedModel, slack: FakeSlack
) -> None:
    # One turn at a time: the first event's turn hangs in the model, the others wait queued.
    one_at_a_time = {"MLOPS_MAX_CONCURRENT_TURNS": "1", **without_mlflow()}
    first = await launch(**one_at_a_time)
    model.reset()
    model.delay_s = HANG_S
    jobs = [f"cust-k/kill-{n}" for n in range(3)]
    for job in jobs:
        r = await post_event(first.url, secrets_.webhook, type="crashed", job=job)
        assert r.status_code == 202
    await model.wait_for_requests(1, timeout_s=90)

    await engine.run("kill", "--signal", "KILL", first.name)
    await first.wait_exited()
    assert [job for job in jobs if answers(slack, job)] == []

    model.delay_s = 0.0
    model.handler = answer_naming_the_job
    second = await launch(first.volume, **one_at_a_time)
    for job in jobs:
        await slack.wait_for_post(lambda p, job=job: p.text == f"answered {job}", timeout=120)
    await asyncio.sleep(3.0)  # room for a duplicate to show up
    assert {job: answers(slack, job) for job in jobs} == {job: 1 for job in jobs}
    await engine.run("stop", second.name, timeout=STOP_TIMEOUT_S + 30)


async def test_a_stop_with_a_turn_in_flight_is_clean_and_the_turn_is_answered_after_a_start(
    launch: Launch, engine: Engine, secrets_: Secrets, model: ScriptedModel, slack: FakeSlack
) -> None:
    # With the embedded MLflow: its stop is part of what must fit in the stop timeout.
    first = await launch()
    model.reset()
    model.delay_s = HANG_S
    job = "cust-s/stop-1"
    r = await post_event(first.url, secrets_.webhook, type="crashed", job=job)
    assert r.status_code == 202
    await model.wait_for_requests(1, timeout_s=90)

    # No --time: the container's own stop timeout (compose's stop_grace_period) applies.
    began = time.monotonic()
    await engine.run("stop", first.name, timeout=STOP_TIMEOUT_S + 30)
    stop_s = time.monotonic() - began
    figure(f"stop with a turn in flight: {stop_s:.1f} s")
    state = (await first.inspect())["State"]
    # Past the timeout the engine would SIGKILL it: exit 137 instead of 0.
    assert state["ExitCode"] == 0 and stop_s < STOP_TIMEOUT_S, (state, stop_s)
    logs = await first.logs()
    assert "stopping: turns in flight go back to the queue" in logs
    assert re.search(r"mlops-agent stopped in [0-9.]+ s", logs), logs[-3000:]
    assert "Traceback" not in logs and "going on" not in logs, logs[-3000:]

    model.delay_s = 0.0
    model.handler = answer_naming_the_job
    again = await launch(first.volume, **without_mlflow())
    await slack.wait_for_post(lambda p: p.text == f"answered {job}", timeout=120)
    assert "1 item(s) of turns cut short by the last stop are queued again" in await again.logs()
    await asyncio.sleep(2.0)
    assert answers(slack, job) == 1
    await engine.run("stop", again.name, timeout=STOP_TIMEOUT_S + 30)


# What the service database says, read inside the container (whatever engine runs it).
RECORDS = """
import json, sqlite3
conn = sqlite3.connect('/state/service.sqlite')
inbox = conn.execute('SELECT state, finished, payload FROM inbox').fetchall()
turns = conn.execute('SELECT turn_id, started, ended, outcome, reason FROM turns').fetchall()
print(json.dumps({'inbox': [[s, f, json.loads(p).get('mark')] for s, f, p in inbox],
                  'turns': [list(t) for t in turns]}))
"""


async def records(container: ServiceContainer) -> dict[str, Any]:
    code, out = await container.exec("python3", "-c", RECORDS)
    assert code == 0, out
    return dict(json.loads(out.strip().splitlines()[-1]))


async def test_a_container_killed_in_a_storm_works_off_its_backlog_with_no_new_event(
    launch: Launch, engine: Engine, secrets_: Secrets, model: ScriptedModel
) -> None:
    """Issue 27, as an operator saw it: Slack in HTTP mode, no web page, the embedded MLflow;
    31 events for 6 jobs while the model answers in 0.2 s, `kill -s KILL` with turns in flight,
    the container removed and started again on its volume, and not one event more."""
    as_reported = {"MLOPS_SLACK_MODE": "http", "MLOPS_WEB": "off"}
    first = await launch(**as_reported)
    model.reset()
    storm = Storm(model)
    try:
        accepted = await storm.send(first.url, secrets_.webhook)
        await engine.run("kill", "--signal", "KILL", first.name)
        await first.wait_exited()
        killed_at = time.time()  # every turn the first container finished ended before this
        await engine.run("rm", first.name)

        restarted = time.monotonic()
        second = await launch(first.volume, **as_reported)
        ready = time.monotonic()
        done_before = {
            mark
            for state, finished, mark in (await records(second))["inbox"]
            if state == "done" and finished < killed_at
        }
        owed = set(accepted) - done_before
        reached = await storm.wait_reached(owed, restarted, ready + DELIVERY_S)
        final = await _all_done(second, len(accepted))
    finally:
        model.reset()
    story = f"owed {sorted(owed)}; requests since the restart:\n{storm.timeline(restarted)}"
    assert len(accepted) == 31 and owed, story
    late = {m: reached.get(m) for m in owed if restarted + reached.get(m, 1e9) > ready + DELIVERY_S}
    assert not late, f"not asked within {DELIVERY_S} s of /readyz: {late}\n{story}"
    assert {state for state, _, _ in final["inbox"]} == {"done"}, final["inbox"]
    # The turns in flight at the kill were taken out of their sessions, so the model never
    # saw one again beside its retry, and closed.
    assert not [a for a in storm.asked if a.at >= restarted and a.unanswered_turn], story
    cut = [t for t in final["turns"] if t[1] < killed_at and not (t[2] and t[2] < killed_at)]
    assert cut and {(t[3], t[4]) for t in cut} == {("failed", "interrupted")}, final["turns"]
    figure(
        f"killed in a storm with {len(cut)} turns in flight: {len(owed)} events owed,"
        f" the last asked {restarted + max(reached[m] for m in owed) - ready:.1f} s after /readyz"
    )
    await engine.run("stop", second.name, timeout=STOP_TIMEOUT_S + 30)


async def _all_done(container: ServiceContainer, count: int, timeout_s: float = 15.0) -> Any:
    """The records once `count` inbox items are all done (or as they are after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await records(container)
        if [s for s, _, _ in found["inbox"]] == ["done"] * count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)
