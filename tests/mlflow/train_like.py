"""A training-like script: logs a run to MLflow the way a real job does.

Run as `python train_like.py '<json spec>'` with MLFLOW_TRACKING_URI set. The
curves are deterministic so tests can assert exact values:

- plateau: val_loss = max(0.2, 1 - 0.05 * epoch): best 0.2 first at epoch 16
- steady:  val_loss = 1 / (1 + 0.2 * epoch): still improving at the end
- long:    train_loss at every one of `steps` steps, sent 1,000 per log_batch
- diverge: loss grows, turns nan, then the script crashes (run status FAILED)
"""

from __future__ import annotations

import json
import sys
import time

import mlflow
import numpy as np
from mlflow.entities import Metric


def curve(kind: str, epochs: int) -> dict[str, np.ndarray]:
    e = np.arange(epochs, dtype=np.float64)
    if kind == "plateau":
        val = np.maximum(0.2, 1.0 - 0.05 * e)
    elif kind == "steady":
        val = 1.0 / (1.0 + 0.2 * e)
    elif kind == "diverge":
        val = 0.5 + 0.5 * e
        val[epochs // 2 :] = np.nan
    else:
        raise SystemExit(f"unknown curve {kind!r}")
    return {"val_loss": val, "train_loss": 0.9 * val, "val_acc": 1.0 - val / 2}


def log_long(run_id: str, steps: int) -> None:
    client = mlflow.MlflowClient()
    s = np.arange(steps)
    # Decays towards 0.1; the minimum sits exactly at the last step.
    loss = 2.0 * np.exp(-s / 2000.0) + 0.1
    now = int(time.time() * 1000)
    for start in range(0, steps, 1000):
        batch = [
            Metric("train_loss", float(loss[i]), now + i, int(i))
            for i in range(start, min(start + 1000, steps))
        ]
        client.log_batch(run_id, metrics=batch)
    for i in range(0, steps, 1000):
        mlflow.log_metric("val_loss", float(loss[i]) + 0.05, step=i)


def main() -> None:
    spec = json.loads(sys.argv[1])
    mlflow.set_experiment(spec["experiment"])
    tags = {"mlops.job": spec["job"]} if spec.get("job") else {}
    with mlflow.start_run(run_name=spec["run_name"], tags=tags) as run:
        mlflow.log_params(spec.get("params", {}))
        if spec["curve"] == "long":
            log_long(run.info.run_id, spec["steps"])
            return
        curves = curve(spec["curve"], spec["epochs"])
        for epoch in range(spec["epochs"]):
            mlflow.log_metrics({name: float(v[epoch]) for name, v in curves.items()}, step=epoch)
        if spec["curve"] == "diverge":
            raise RuntimeError("loss is nan")


if __name__ == "__main__":
    main()
