"""Issue 6's acceptance: an overnight sweep, end to end.

Real opencode, real aiqu and mlflow skills, the local scheduler running
examples/sweep_train.py (numpy, CPU) that logs to a real MLflow server and
reports through mlops_reporter; a scripted model plays the agent. It starts a
sweep of 6 trials, 2 in parallel; the first trial (enqueued with a tiny
learning rate) is flat and gets early-stopped from its metric summary; the
service restarts mid-sweep; the sweep finishes; the morning digest is sent.
The skill refuses the 7th trial, the 3rd parallel one and an over-budget start.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import optuna
import pytest
import pytest_asyncio
from mlflow import MlflowClient

from agent.engine.schedule import Schedule
from agent.service import Service
from agent.service.mlflow_server import MlflowServer
from agent.settings import Settings
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.sweeps.table import read_sweeps, sweeps_db
from mcp_servers.mlflow.skill import MlflowSkill
from mcp_servers.mlflow.summary import metric_summary
from tests.aiqu.conftest import kill_leftovers
from tests.e2e.harness import ALICE, eventually, service_settings
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SWEEP, BIG = "lr-1", "big-1"
TRAIN = Path(__file__).resolve().parents[2] / "examples" / "sweep_train.py"
SILENT = "<silent/>"
FLAT_LR, GOOD_LR = 1e-6, 0.5
EVENT = re.compile(r"^event (\w+) \S+ job=(\S+)$", re.M)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory,
    model: ScriptedModel,
    slack: FakeSlack,
    mlflow_server: MlflowServer,
) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("state").resolve()
    yield service_settings(
        state,
        model.base_url,
        slack.api_url,
        mlflow_tracking_uri=mlflow_server.uri,
        agent_max_jobs=4,  # so the sweep's own parallel limit is what refuses a 3rd trial
        agent_gpu_hours=1.0,
        agent_default_time_limit_min=5,
        # Ticks catch what events miss: a trial that ends while the service restarts
        # leaves its `finished` event in that job's spool, and no later run drains it.
        tick_interval_s=3.0,
    )
    kill_leftovers(state)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def base_job(settings: Settings, mlflow_server: MlflowServer) -> str:
    """A person's one-epoch run of the training script: what every trial clones."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.uri}
    scheduler = LocalScheduler(
        settings.state_dir, 2, env=SkillEnvironment.from_env(env), poll_interval_s=0.1
    )
    scheduler.start()
    try:
        job = scheduler.submit(
            JobSpec(
                name="team/sweep-base",
                command=[sys.executable, str(TRAIN), "--epochs=1"],
                gpus=1,
                workdir=str(TRAIN.parents[1]),
                labels={"submitted_by": ALICE},
            )
        )
        for _ in range(600):
            if not (done := scheduler.get(job.id)).state.active:
                break
            await asyncio.sleep(0.1)
        assert done.state.value == "succeeded", scheduler.logs(job.id)
    finally:
        scheduler.close()
    return job.id


class Agent:
    """The scripted model's play: a small state machine over what a real model would see."""

    def __init__(self, base_job: str) -> None:
        self.base_job = base_job
        self.checked: set[int] = set()  # trials whose curve was already looked at
        self.tool_results: list[str] = []

    def __call__(self, request: ModelRequest) -> Reply:
        text = request.last_user_text
        since_user = _since_last_user(request.messages)
        results = _results(since_user)
        self.tool_results += [r for _, _, r in results if r not in self.tool_results]
        rounds = sum(1 for m in since_user if m["role"] == "assistant" and m.get("tool_calls"))
        if "run a sweep" in text:
            return self._start_sweep(rounds)
        if "big sweep" in text:
            return self._big_sweep(rounds)
        if "morning digest" in text:
            return self._digest(rounds, results)
        if f"conversation=sweep:{SWEEP}" in text:
            if EVENT.search(text) is None and "scheduled check" in text:
                return self._tick(rounds, results)
            return self._events(text, rounds, results)
        return Reply.text(SILENT)

    def _start_sweep(self, rounds: int) -> Reply:
        if rounds == 0:
            return Reply.tool_calls(
                (
                    "aiqu_start_sweep",
                    {
                        "sweep": SWEEP,
                        "base_job": self.base_job,
                        "objective": "val_loss",
                        "direction": "minimize",
                        "space": {"lr": {"type": "float", "low": 1e-6, "high": 3.0, "log": True}},
                        "max_trials": 6,
                        "max_parallel": 2,
                        "trial_time_limit_min": 5,
                        "fixed_params": {"epochs": 12, "epoch-seconds": 0.4},
                        "first_trials": [{"lr": FLAT_LR}, {"lr": GOOD_LR}],
                    },
                )
            )
        if rounds <= 3:  # two trials, and a third that the skill must refuse
            return Reply.tool_calls(("aiqu_next_trial", {"sweep": SWEEP}))
        return Reply.text(f"Sweep {SWEEP} started: 6 trials of lr, 2 at a time.")

    def _big_sweep(self, rounds: int) -> Reply:
        if rounds == 0:
            return Reply.tool_calls(
                (
                    "aiqu_start_sweep",
                    {
                        "sweep": BIG,
                        "base_job": self.base_job,
                        "objective": "val_loss",
                        "direction": "minimize",
                        "space": {"lr": {"type": "float", "low": 0.01, "high": 1.0}},
                        "max_trials": 4,
                        "trial_time_limit_min": 120,  # 1 GPU x 2 h: over the 1 GPU-hour budget
                    },
                )
            )
        if rounds == 1:
            return Reply.tool_calls(("aiqu_next_trial", {"sweep": BIG}))
        return Reply.text("The big sweep does not fit the GPU-hour budget.")

    def _events(self, text: str, rounds: int, results: list[tuple[str, dict[str, Any], str]]):
        if rounds == 0:
            calls: list[tuple[str, dict[str, Any]]] = []
            for block in text.split("\n\n"):
                found = EVENT.search(block)
                if not found or not found[2].startswith(f"{SWEEP}/trial-"):
                    continue
                kind, trial = found[1], int(found[2].rsplit("-", 1)[1])
                if kind == "finished":
                    value = float(re.search(r"val_loss=([0-9.e-]+)", block)[1])  # type: ignore[index]
                    calls.append(
                        ("aiqu_report_trial", {"sweep": SWEEP, "trial": trial, "value": value})
                    )
                    self.checked.add(trial)
                elif kind == "epoch" and trial not in self.checked:
                    epoch = int(re.search(r"\bepoch=(\d+)", block)[1])  # type: ignore[index]
                    if epoch >= 4:
                        self.checked.add(trial)
                        args = {"run": found[2], "metric": "val_loss", "window_steps": 3}
                        calls.append(("mlflow_metric_summary", args))
            return Reply.tool_calls(*calls) if calls else Reply.text(SILENT)
        if rounds == 1:
            prunes = []
            for name, args, result in results:
                if name == "mlflow_metric_summary" and _flat(result):
                    trial = int(args["run"].rsplit("-", 1)[1])
                    reason = "val_loss flat: best moved <0.1% over the last 3 epochs"
                    prunes.append(
                        ("aiqu_prune_trial", {"sweep": SWEEP, "trial": trial, "reason": reason})
                    )
            if prunes:
                return Reply.tool_calls(*prunes)
        closed = sum(
            1
            for name, _, result in results
            if name in ("aiqu_report_trial", "aiqu_prune_trial") and '"state"' in result
        )
        started = sum(1 for r in results if r[0] == "aiqu_next_trial")
        if started < closed:  # one next_trial per closed trial, one at a time
            return Reply.tool_calls(("aiqu_next_trial", {"sweep": SWEEP}))
        return Reply.text(SILENT)

    def _tick(self, rounds: int, results: list[tuple[str, dict[str, Any], str]]) -> Reply:
        """A scheduled check: report trials whose job ended unheard, from their MLflow runs."""
        if rounds == 0:
            return Reply.tool_calls(("aiqu_sweep_status", {"sweep": SWEEP}))
        if rounds == 1:
            status = json.loads(results[-1][2])
            status = status.get("result", status)
            ended = [
                t["trial"]
                for t in status["trials"]
                if t["state"] == "running" and t["job_state"] in ("succeeded", "failed")
            ]
            if ended:
                self.checked.update(ended)
                return Reply.tool_calls(
                    *(
                        (
                            "mlflow_metric_summary",
                            {"run": f"{SWEEP}/trial-{n}", "metric": "val_loss"},
                        )
                        for n in ended
                    )
                )
            return Reply.text(SILENT)
        if rounds == 2:
            reports = [
                (
                    "aiqu_report_trial",
                    {
                        "sweep": SWEEP,
                        "trial": int(args["run"].rsplit("-", 1)[1]),
                        "value": json.loads(result)["last"]["value"],
                    },
                )
                for name, args, result in results
                if name == "mlflow_metric_summary"
            ]
            return Reply.tool_calls(*reports)
        closed = sum(1 for name, _, r in results if name == "aiqu_report_trial" and '"state"' in r)
        started = sum(1 for r in results if r[0] == "aiqu_next_trial")
        if started < closed:
            return Reply.tool_calls(("aiqu_next_trial", {"sweep": SWEEP}))
        return Reply.text(SILENT)

    def _digest(self, rounds: int, results: list[tuple[str, dict[str, Any], str]]) -> Reply:
        if rounds == 0:
            return Reply.tool_calls(("aiqu_sweep_status", {"sweep": SWEEP}))
        status = json.loads(results[-1][2])
        best = status["best"]
        return Reply.text(
            f"Morning digest: sweep {SWEEP} best trial {best['trial']}"
            f" lr={best['params']['lr']:.4g} val_loss={best['value']:.4f}"
        )


def _since_last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[last + 1 :]


def _results(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    """(tool name, arguments, result text) for each tool result since the user's turn."""
    calls = {}
    for m in messages:
        for call in m.get("tool_calls") or []:
            fn = call["function"]
            calls[call["id"]] = (fn["name"], json.loads(fn["arguments"] or "{}"))
    out = []
    for m in messages:
        if m["role"] == "tool":
            name, args = calls.get(m.get("tool_call_id"), ("?", {}))
            content = m["content"]
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            out.append((name, args, str(content)))
    return out


def _flat(summary: str) -> bool:
    try:
        improvement = json.loads(summary).get("window_improvement")
    except ValueError:
        return False
    return improvement is not None and abs(improvement) < 1e-3


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def agent(base_job: str) -> Agent:
    return Agent(base_job)


async def _start(settings: Settings, slack: FakeSlack) -> Service:
    service = Service(settings)
    await service.start()
    await slack.wait_connected(timeout=30)
    return service


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running(
    settings: Settings, model: ScriptedModel, slack: FakeSlack, agent: Agent
) -> AsyncIterator[dict[str, Service]]:
    model.reset()
    model.handler = agent
    holder = {"service": await _start(settings, slack)}
    yield holder
    await holder["service"].stop()


def _port_free(port: int) -> bool:
    """The restarted service must listen where the trials' reporters send."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def sweep_jobs(state: Path, sweep: str) -> list[dict[str, Any]]:
    import sqlite3

    conn = sqlite3.connect(state / "aiqu" / "local.sqlite")
    try:
        rows = conn.execute("SELECT id, name, state, spec FROM jobs").fetchall()
    finally:
        conn.close()
    jobs = [
        {"id": str(r[0]), "name": r[1], "state": r[2], "labels": json.loads(r[3])["labels"]}
        for r in rows
    ]
    return [j for j in jobs if j["labels"].get("sweep") == sweep]


def sweep_status(state: Path, sweep: str) -> str | None:
    return next((s.status for s in read_sweeps(state) if s.id == sweep), None)


async def test_budget_refuses_an_over_budget_sweep_start(
    running: dict[str, Service], slack: FakeSlack, agent: Agent, settings: Settings
) -> None:
    await slack.send_message(ALICE, "start the big sweep please", channel="DALICE")
    await slack.wait_for_post(lambda p: p.text.startswith("The big sweep"), timeout=90)
    refusal = [r for r in agent.tool_results if "GPU-hours" in r]
    assert refusal and "would be 2.0 of 1.0 allowed" in refusal[0], agent.tool_results
    assert sweep_jobs(settings.state_dir, BIG) == []


async def test_overnight_sweep_with_early_stop_restart_and_digest(
    running: dict[str, Service],
    slack: FakeSlack,
    agent: Agent,
    settings: Settings,
    mlflow_server: MlflowServer,
) -> None:
    state = settings.state_dir
    await slack.send_message(ALICE, "run a sweep over lr, 6 trials", channel="DALICE")
    await slack.wait_for_post(lambda p: p.text.startswith(f"Sweep {SWEEP} started"), timeout=90)
    assert any("2 of 2 parallel trials allowed" in r for r in agent.tool_results)
    assert len(sweep_jobs(state, SWEEP)) == 2

    # Restart the whole service mid-sweep, once a third trial has started.
    await eventually(lambda: len(sweep_jobs(state, SWEEP)) >= 3, timeout=120)
    await running["service"].stop()
    await eventually(lambda: _port_free(settings.port), timeout=30)
    running["service"] = await _start(settings, slack)

    await eventually(lambda: sweep_status(state, SWEEP) == "finished", timeout=180)
    assert any("started 6 of 6 trials allowed" in r for r in agent.tool_results)

    # No trial lost or duplicated: 6 trials, 6 jobs, one each.
    study = optuna.load_study(study_name=SWEEP, storage=f"sqlite:///{sweeps_db(state)}")
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6))
    jobs = {j["id"]: j for j in sweep_jobs(state, SWEEP)}
    assert sorted(t.user_attrs["job_id"] for t in trials) == sorted(jobs)
    assert sorted(j["name"] for j in jobs.values()) == [f"{SWEEP}/trial-{n}" for n in range(6)]

    # The flat trial was early-stopped while it ran; every pruned trial was flat.
    flat = trials[0]
    assert flat.params["lr"] == FLAT_LR and flat.state == optuna.trial.TrialState.PRUNED
    assert jobs[flat.user_attrs["job_id"]]["state"] == "cancelled"
    client = MlflowClient(mlflow_server.uri)
    skill = MlflowSkill(client, settings.state_dir / "attachments")  # plots are not made here
    runs = {
        r.data.tags["trial"]: r
        for r in client.search_runs(
            [e.experiment_id for e in client.search_experiments()], f"tags.sweep = '{SWEEP}'"
        )
    }
    assert sorted(runs) == [str(n) for n in range(6)]
    for t in trials:
        run_id = runs[str(t.number)].info.run_id
        history = [m.value for m in client.get_metric_history(run_id, "val_loss")]
        if t.state == optuna.trial.TrialState.PRUNED:
            # The summary the agent pruned on, over everything the trial logged before it died.
            summary = metric_summary(skill, run_id, "val_loss", window_steps=3)
            assert summary.points >= 4, summary  # it was judged on epoch 4 or later
            assert _flat(summary.model_dump_json()), summary
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert len(history) == 12 and t.value == pytest.approx(history[-1], rel=1e-5)
            assert float(runs[str(t.number)].data.params["lr"]) == pytest.approx(t.params["lr"])

    # The best trial agrees in Optuna and MLflow.
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial
    best_run = min(
        (runs[str(t.number)] for t in complete), key=lambda r: r.data.metrics["val_loss"]
    )
    assert best_run.data.tags["trial"] == str(best.number)
    assert best.value == pytest.approx(best_run.data.metrics["val_loss"], rel=1e-5)

    # The morning digest: scheduled by the supervisor's schedule, said by the agent.
    service = running["service"]
    digest_at = datetime.now(UTC).replace(hour=7, minute=30, second=0, microsecond=0)
    schedule = Schedule(
        service.inbox,
        state,
        service.engine.wake,
        tick_interval_s=None,
        digest_at=time(7, 30),
        zone=UTC,
        clock=lambda: digest_at.timestamp() + 60,
    )
    assert await schedule.run_once() == [f"digest:{digest_at.date().isoformat()}"]
    post = await slack.wait_for_post(lambda p: p.text.startswith("Morning digest"), timeout=90)
    assert f"best trial {best.number}" in post.text and f"{best.value:.4f}" in post.text
    assert post.thread_ts is None  # a new message in the notify channel
