"""A real tiny transformers Trainer run (CPU) reports through `MlopsTrainerCallback`."""

from __future__ import annotations

from mlops_reporter.hf import MlopsTrainerCallback
from tests.reporter.conftest import run_script
from tests.reporter.hf_tiny import train


def test_a_trainer_run_reports_started_epochs_finished(receiver, make_reporter, tmp_path):
    train(str(tmp_path), MlopsTrainerCallback(make_reporter(receiver), report_uncaught=False))
    events = receiver.wait_for(4)
    assert [e["type"] for e in events] == ["started", "epoch", "epoch", "finished"]
    assert events[0]["max_epochs"] == 2
    assert events[0]["max_steps"] == 4
    assert [(e["epoch"], e["total"], e["step"]) for e in events[1:3]] == [(1, 2, 2), (2, 2, 4)]
    for e in events[1:3]:
        # The epoch's training loss and the evaluation logged right after it.
        assert {"loss", "eval_loss"} <= set(e["metrics"])
        assert "train_runtime" not in e["metrics"]
    assert {"train_loss", "train_runtime"} <= set(events[3]["metrics"])


def test_a_trainer_run_that_raises_reports_crashed_with_the_traceback(receiver, secret, tmp_path):
    result = run_script(
        "from mlops_reporter.hf import MlopsTrainerCallback\n"
        "from tests.reporter.hf_tiny import train\n"
        f"train({str(tmp_path)!r}, MlopsTrainerCallback(), fail_at_step=3)\n",
        {
            "MLOPS_URL": receiver.url,
            "MLOPS_WEBHOOK_SECRET": secret,
            "MLOPS_JOB": "hf-crash",
            "MLOPS_SPOOL_DIR": str(tmp_path / "spool"),
        },
        timeout_s=120,
    )
    assert result.returncode == 1
    assert "NaN in gradients" in result.stderr  # the script's own traceback still prints
    events = receiver.events()
    assert [e["type"] for e in events] == ["started", "epoch", "crashed"]
    crash = events[2]
    assert crash["exception"] == "RuntimeError"
    assert crash["message"] == "NaN in gradients of layer.weight"
    assert "in forward" in crash["traceback"]
