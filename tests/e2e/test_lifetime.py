"""Issue 10's "no orphans, ever": SIGKILL the supervisor (`mlops-agent serve`, a real
process) with a turn in flight, its skills running and the embedded MLflow up; 5 s later
nothing of that instance is alive, and a restart on the same state starts one MLflow."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.e2e.harness import eventually, post_event
from tests.e2e.test_resilience import start_supervisor, stop_supervisor, supervised
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

START_S = 240.0  # the embedded MLflow server alone has taken 30 s on a loaded machine


def instance(state: Path) -> dict[int, str]:
    """Live processes with the state dir in their command line or environment: pid -> argv."""
    marker = str(state).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile; a zombie has neither
        if marker in cmdline or marker in environ:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def mlflow_servers(state: Path) -> list[str]:
    return [cmd for cmd in instance(state).values() if "agent.service.mlflow_app" in cmd]


async def test_nothing_outlives_a_sigkilled_supervisor_and_a_restart_starts_one_mlflow(
    tmp_path: Path, model: ScriptedModel, slack: FakeSlack
) -> None:
    run = supervised(tmp_path, model, slack, embedded_mlflow=True)
    state, url, secret, env = run.state, run.url, run.secret, run.env
    proc = await start_supervisor(env, url, tmp_path, timeout_s=START_S)
    try:
        model.delay_s = 60.0  # the turn is in flight when the supervisor dies
        await post_event(url, secret, type="crashed", job="cust-l/orphans")
        await model.wait_for_requests(1, timeout_s=90)
        running = instance(state).values()
        assert len(mlflow_servers(state)) == 1
        for skill in ("aiqu", "mlflow", "datasets"):
            assert any(f"-m mcp_servers {skill}" in cmd for cmd in running), running
        assert any("opencode" in cmd and " serve " in cmd for cmd in running), running

        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        await asyncio.sleep(5)
        assert instance(state) == {}

        model.delay_s = 0.0
        proc = await start_supervisor(env, url, tmp_path, timeout_s=START_S)
        assert len(mlflow_servers(state)) == 1
    finally:
        model.delay_s = 0.0
        stop_supervisor(proc)
    await eventually(lambda: instance(state) == {}, timeout=15)
