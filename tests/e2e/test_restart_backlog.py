"""Issue 27 at the process level: the whole service (supervisor, opencode, its skills, the
embedded MLflow) SIGKILLed in one instant with turns in flight, then started again on the same
state with no new event: every accepted event reaches the model within 30 s of /readyz, and a
conversation whose turn was cut off costs one normal turn (the model is not shown the
cut-off turn again beside its retry).

The container version of the same story is tests/container/test_restart.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import eventually, inbox_states, turns
from tests.e2e.storm import DELIVERY_S, Storm
from tests.e2e.test_lifetime import START_S, instance
from tests.e2e.test_resilience import start_supervisor, stop_supervisor, supervised
from tests.fakes import slack as fake_slack
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


def kill_whole_instance(state: Path, supervisor: subprocess.Popen[bytes]) -> int:
    """SIGKILL every process group of the instance at once, as an OOM kill or a host crash
    would; returns how many processes there were. Frozen first, so none of them reacts to
    another's death (a parent-death signal, a closed pipe) before its own."""
    pids = set(instance(state)) | {supervisor.pid}
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    assert os.getpgrp() not in groups, "the test's own group would go too"
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
    supervisor.wait(10)
    return len(pids)


def done_marks(state: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{state / 'service.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT payload FROM inbox WHERE state = 'done'").fetchall()
    finally:
        conn.close()
    return {json.loads(payload)["mark"] for (payload,) in rows}


async def test_a_killed_instance_works_off_its_backlog_after_a_restart_with_no_new_event(
    tmp_path: Path, model: ScriptedModel, slack: FakeSlack
) -> None:
    run = supervised(tmp_path, model, slack, embedded_mlflow=True)  # it dies with the rest
    state, url, secret, env = run.state, run.url, run.secret, run.env
    env.update(
        MLOPS_SLACK_MODE="http", SLACK_SIGNING_SECRET=fake_slack.SIGNING_SECRET, MLOPS_WEB="off"
    )
    start = dict(until="/readyz", own_group=True, timeout_s=START_S)
    proc = await start_supervisor(env, url, tmp_path, **start)  # type: ignore[arg-type]
    try:
        storm = Storm(model)
        accepted = await storm.send(url, secret)
        killed = kill_whole_instance(state, proc)
        owed = set(accepted) - done_marks(state)
        in_flight = [r["turn_id"] for r in turns(state) if r["ended"] is None]
        assert len(accepted) == 31 and killed >= 6 and owed and in_flight, (killed, owed)

        restarted, restarted_at = time.monotonic(), time.time()
        proc = await start_supervisor(env, url, tmp_path, **start)  # type: ignore[arg-type]
        ready = time.monotonic()
        reached = await storm.wait_reached(owed, restarted, ready + DELIVERY_S)
        story = f"owed {sorted(owed)}; requests since the restart:\n{storm.timeline(restarted)}"
        late = {
            m: reached.get(m) for m in owed if restarted + reached.get(m, 1e9) > ready + DELIVERY_S
        }
        assert not late, f"not asked within {DELIVERY_S} s of /readyz: {late}\n{story}"
        await eventually(lambda: inbox_states(state) == {"done": len(accepted)}, timeout=15)

        # The cut-off turns were taken out of their sessions: no request shows one.
        assert not [a for a in storm.asked if a.at >= restarted and a.unanswered_turn], story
        rows = turns(state)
        cut = {r["turn_id"]: (r["outcome"], r["reason"]) for r in rows if r["turn_id"] in in_flight}
        assert set(cut.values()) == {("failed", "interrupted")}, cut
        after = [r for r in rows if r["started"] >= restarted_at]
        assert after and all((r["outcome"], r["reason"]) == ("posted", "ok") for r in after), rows
        print(
            f"\nkilled {killed} processes with {len(in_flight)} turns in flight;"
            f" {len(owed)} events owed; the last reached the model "
            f"{restarted + max(reached[m] for m in owed) - ready:.1f} s after /readyz"
        )
    finally:
        model.reset()
        stop_supervisor(proc)
    await eventually(lambda: instance(state) == {}, timeout=15)
