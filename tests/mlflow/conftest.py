"""One real `mlflow server` for all mlflow tests, with runs logged by a training-like script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from agent.service.mlflow_server import MlflowServer
from mcp_servers.mlflow.skill import MlflowSkill

TRAIN_LIKE = Path(__file__).with_name("train_like.py")
LONG_STEPS = 12_000

# Each spec is one training job's run; names are what the tests refer to.
RUN_SPECS = [
    {
        "experiment": "pcb-inspect",
        "job": "customer-b/pcb-inspect-v2",
        "run_name": "pcb-lr-1e-3",
        "params": {"lr": "0.001", "batch_size": "32", "model": "yolov8s"},
        "curve": "plateau",
        "epochs": 30,
    },
    {
        "experiment": "pcb-inspect",
        "job": "customer-b/pcb-inspect-v2",
        "run_name": "pcb-lr-1e-2",
        "params": {"lr": "0.01", "batch_size": "32", "model": "yolov8s"},
        "curve": "steady",
        "epochs": 30,
    },
    {
        "experiment": "segmentation",
        "job": "customer-a/defect-seg",
        "run_name": "seg-long",
        "params": {"lr": "0.0003", "epochs": "12"},
        "curve": "long",
        "steps": LONG_STEPS,
    },
    {
        "experiment": "segmentation",
        "job": "customer-a/defect-seg-bad",
        "run_name": "seg-diverged",
        "params": {"lr": "0.5"},
        "curve": "diverge",
        "epochs": 10,
    },
    {
        # Logged by hand, without the reporter: no mlops.job tag.
        "experiment": "Default",
        "run_name": "adhoc-notebook",
        "params": {"lr": "0.001", "note": "x" * 500},
        "curve": "steady",
        "epochs": 5,
    },
]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.fixture(scope="session")
def logged_runs(mlflow_server: MlflowServer) -> dict[str, str]:
    """Run name -> run ID of the runs in RUN_SPECS, logged by real subprocesses."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    client = MlflowClient(mlflow_server.uri)
    # Jobs log concurrently, as on a real cluster; experiments exist first so that
    # two runs never race to create one. The second pcb run starts after the
    # first ends: tests rely on it being that job's most recent run.
    for name in {s["experiment"] for s in RUN_SPECS} - {"Default"}:
        client.create_experiment(name)
    first, second, *others = RUN_SPECS
    started = [(spec, _start(spec, env)) for spec in [first, *others]]
    _finish(*started[0])
    started[0] = (second, _start(second, env))
    for spec, process in started:
        _finish(spec, process)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_name: r.info.run_id for r in client.search_runs(experiments)}


def _start(spec: dict[str, object], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(TRAIN_LIKE), json.dumps(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(spec: dict[str, object], process: subprocess.Popen[str]) -> None:
    """Wait (bounded) and check the exit: only the diverging run crashes."""
    try:
        output, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    crashed = spec["curve"] == "diverge"
    assert (process.returncode != 0) == crashed, output[-2000:]


@pytest.fixture
def client(mlflow_server: MlflowServer, logged_runs: dict[str, str]) -> MlflowClient:
    return MlflowClient(mlflow_server.uri)


@pytest.fixture
def skill(client: MlflowClient, tmp_path: Path) -> MlflowSkill:
    return MlflowSkill(client, tmp_path / "attachments")
