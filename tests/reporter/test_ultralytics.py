"""`mlops_reporter.ultralytics` beyond the end-to-end runs in tests/e2e/test_ultralytics.py:
epochs without validation, DDP pickling, and callbacks that must never stop training."""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import torch

from mlops_reporter import Reporter
from mlops_reporter.ultralytics import MlopsYoloCallbacks, numbers
from tests.reporter.conftest import run_script
from tests.yolo import venv


def test_epochs_without_validation_carry_no_stale_validation_numbers(receiver, secret, tmp_path):
    venv.require_venv()
    data = venv.write_dataset(tmp_path / "dataset")
    env = venv.offline_env(
        tmp_path, MLOPS_URL=receiver.url, MLOPS_WEBHOOK_SECRET=secret, MLOPS_JOB="no-val"
    )
    result = venv.train(data, tmp_path, env, "--epochs", "3", "--no-val")
    assert result.returncode == 0, result.stderr[-3000:]
    epochs = receiver.events("epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    # With val=False Ultralytics validates only after the last epoch.
    for e in epochs[:2]:
        assert "train/box_loss" in e["metrics"]
        assert not any(k.startswith(("metrics/", "val/")) or k == "fitness" for k in e["metrics"])
    assert {"metrics/mAP50(B)", "val/box_loss", "fitness"} <= set(epochs[2]["metrics"])


def test_ddp_workers_unpickle_callbacks_that_report_from_their_environment(
    receiver, secret, tmp_path, monkeypatch
):
    parent = MlopsYoloCallbacks(Reporter(job="ddp-job", url=receiver.url, secret=secret))
    # Ultralytics pickles trainer.callbacks (bound methods) into each DDP worker.
    monkeypatch.setenv("MLOPS_URL", receiver.url)
    monkeypatch.setenv("MLOPS_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("MLOPS_SPOOL_DIR", str(tmp_path / "spool"))
    handlers = pickle.loads(pickle.dumps(parent.handlers()))
    worker = handlers["on_train_end"].__self__
    assert worker is not parent and worker.reporter.config.job == "ddp-job"
    assert worker.reporter.enabled
    worker.reporter.started()
    assert receiver.wait_for(1)[0]["job"] == "ddp-job"
    worker.reporter.close(1)
    parent.reporter.close(1)


def test_a_callback_that_cannot_read_the_trainer_logs_once_and_training_goes_on(
    make_reporter, receiver, caplog
):
    callbacks = MlopsYoloCallbacks(make_reporter(receiver))
    with caplog.at_level(logging.WARNING, logger="mlops_reporter"):
        for _ in range(2):
            callbacks.on_pretrain_routine_start(object())  # an Ultralytics without `args`
    assert caplog.text.count("on_pretrain_routine_start could not be reported") == 1


def test_numbers_keeps_single_numbers_as_floats():
    values = {
        "np": np.float32(0.5),
        "tensor": torch.tensor(0.25),
        "int": 3,
        "vector": np.array([1.0, 2.0]),
        "tensor_vector": torch.tensor([1.0, 2.0]),
        "none": None,
        "text": "0.1",
        "flag": True,
    }
    assert numbers(values) == {"np": 0.5, "tensor": 0.25, "int": 3.0}
    assert all(type(v) is float for v in numbers(values).values())


def test_the_module_imports_neither_ultralytics_nor_torch(tmp_path):
    result = run_script(
        "import json, sys\n"
        "import mlops_reporter.ultralytics\n"
        "print(json.dumps([m for m in ('ultralytics', 'torch') if m in sys.modules]))\n",
        {"MLOPS_SPOOL_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
