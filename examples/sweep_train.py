"""A small real training script for sweeps: numpy logistic regression, seconds on a CPU.

    python examples/sweep_train.py --lr=0.3 --l2=0.001 --epochs=8 --epoch-seconds=0.2

Each epoch is a few full-batch gradient steps on a fixed synthetic data set;
`val_loss` is logged to MLflow (run name = MLOPS_JOB, tags mlops.job, sweep,
trial) and reported to mlops-agent through `mlops_reporter`. The data and the
start weights are fixed, so the same parameters give the same curve: a tiny
learning rate (e.g. 1e-6) gives a flat one.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import mlflow
import numpy as np

from mlops_reporter import Reporter

STEPS_PER_EPOCH = 10


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 8))
    w = rng.normal(size=8)
    y = (x @ w + 0.5 * rng.normal(size=600) > 0).astype(np.float64)
    return x[:400], y[:400], x[400:], y[400:]


def loss(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(1 / (1 + np.exp(-(x @ w))), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--epoch-seconds", type=float, default=0.0, help="sleep per epoch")
    args = parser.parse_args()

    job = os.environ.get("MLOPS_JOB", "sweep-train")
    labels = json.loads(os.environ.get("MLOPS_LABELS") or "{}")
    tags = {"mlops.job": job, **{k: str(v) for k, v in labels.items() if k in ("sweep", "trial")}}
    x, y, xv, yv = make_data()
    w = np.zeros(x.shape[1])
    reporter = Reporter()
    mlflow.set_experiment(os.environ.get("MLOPS_EXPERIMENT", "sweeps"))
    with mlflow.start_run(run_name=job, tags=tags):
        mlflow.log_params(vars(args))
        reporter.started(params=vars(args))
        val = loss(w, xv, yv)
        best = val
        try:
            for epoch in range(1, args.epochs + 1):
                for _ in range(STEPS_PER_EPOCH):
                    p = 1 / (1 + np.exp(-(x @ w)))
                    w -= args.lr * (x.T @ (p - y) / len(y) + args.l2 * w)
                val = loss(w, xv, yv)
                best = min(best, val)
                mlflow.log_metric("val_loss", val, step=epoch)
                reporter.epoch(epoch, total=args.epochs, metrics={"val_loss": val})
                time.sleep(args.epoch_seconds)
        except BaseException as exc:
            reporter.crashed(exc)
            raise
        mlflow.log_metric("best_val_loss", best)
        reporter.finished(metrics={"val_loss": val, "best_val_loss": best})
    reporter.close()


if __name__ == "__main__":
    main()
