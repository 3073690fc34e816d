"""Facts added to every event: GPU count, rank, the active MLflow run."""

from __future__ import annotations

import pytest
import torch

from mlops_reporter.environment import active_mlflow_run_id, gpu_count, process_rank


@pytest.mark.parametrize(
    ("visible", "count"), [("0,1,2", 3), ("3", 1), ("", 0), ("-1", 0), ("0,-1,2", 1)]
)
def test_gpu_count_follows_cuda_visible_devices(visible, count):
    assert gpu_count({"CUDA_VISIBLE_DEVICES": visible}, {"torch": torch}) == count


def test_gpu_count_asks_torch_only_when_the_script_imported_it():
    assert gpu_count({}, {}) is None
    assert gpu_count({}, {"torch": torch}) == torch.cuda.device_count()


@pytest.mark.parametrize(
    ("env", "rank"),
    [({}, 0), ({"RANK": "5"}, 5), ({"LOCAL_RANK": "2"}, 2), ({"RANK": "x"}, 0)],
)
def test_process_rank(env, rank):
    assert process_rank(env) == rank


def test_the_active_mlflow_run_id_is_attached(receiver, make_reporter, tmp_path, monkeypatch):
    import sys

    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert active_mlflow_run_id(sys.modules) is None
    reporter = make_reporter(receiver)
    with mlflow.start_run() as run:
        reporter.epoch(1)
    reporter.epoch(2)
    events = receiver.wait_for(2)
    assert events[0]["mlflow_run_id"] == run.info.run_id
    assert "mlflow_run_id" not in events[1]
