"""Benchmark: metric_summary over a 10,000-point metric history on a real MLflow server.

    .venv/bin/python bench/bench_mlflow.py [--points 10000] [--runs 15]

Starts a local `mlflow server` (sqlite, one worker) in a temporary folder, logs
one run whose metric has `--points` values (1,000 per log_batch), then prints
the median latency of metric_summary as a plain function and through an
in-process MCP client, next to the baseline measured in the same run: the raw
`MlflowClient.get_metric_history` call that the summary is built on. The
difference is what the skill adds (run lookup, numpy reduction, MCP). For
scale it also times the same REST call fetched raw with httpx (no protobuf
parsing: the floor any client could reach) and plot_metrics for the same
history. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"

import httpx  # noqa: E402
import mcp  # noqa: E402
import numpy as np  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agent.mlflow_server import MlflowServer  # noqa: E402
from mcp_servers.mlflow.plots import plot_metrics  # noqa: E402
from mcp_servers.mlflow.server import build_server  # noqa: E402
from mcp_servers.mlflow.summary import metric_summary  # noqa: E402


def log_run(client: MlflowClient, points: int) -> str:
    experiment = client.create_experiment("bench")
    run = client.create_run(experiment, run_name="bench-long", tags={"mlops.job": "bench/long"})
    steps = np.arange(points)
    loss = 2.0 * np.exp(-steps / (points / 5)) + 0.1 + 0.01 * np.sin(steps)
    now = int(time.time() * 1000)
    for start in range(0, points, 1000):
        batch = [
            Metric("train_loss", float(loss[i]), now + i, int(i))
            for i in range(start, min(start + 1000, points))
        ]
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def median_s(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: connection pools, first-query caches
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def mcp_median_s(client: MlflowClient, attachments: Path, run_id: str, runs: int) -> float:
    async with mcp.Client(build_server(client, attachments)) as c:
        args = {"run": run_id, "metric": "train_loss"}
        await c.call_tool("metric_summary", args)
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            result = await c.call_tool("metric_summary", args)
            times.append(time.perf_counter() - began)
        assert not result.is_error
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        with MlflowServer(Path(tmp) / "mlflow") as server:
            print(f"mlflow server up in {time.perf_counter() - began:.1f} s at {server.uri}")
            client = MlflowClient(server.uri)
            began = time.perf_counter()
            run_id = log_run(client, args.points)
            print(f"logged {args.points} points in {time.perf_counter() - began:.2f} s")

            raw = median_s(
                lambda: httpx.get(
                    server.uri + "/api/2.0/mlflow/metrics/get-history",
                    params={"run_id": run_id, "metric_key": "train_loss"},
                    timeout=60,
                ).json(),
                args.runs,
            )
            baseline = median_s(lambda: client.get_metric_history(run_id, "train_loss"), args.runs)
            by_id = median_s(lambda: metric_summary(client, run_id, "train_loss"), args.runs)
            by_name = median_s(
                lambda: metric_summary(client, "bench/long", "train_loss"), args.runs
            )
            over_mcp = asyncio.run(mcp_median_s(client, Path(tmp) / "att", run_id, args.runs))
            plot = median_s(
                lambda: plot_metrics(client, Path(tmp) / "att", [run_id], ["train_loss"]),
                max(3, args.runs // 3),
            )
            summary = metric_summary(client, run_id, "train_loss")

    print(f"\nmedian of {args.runs} calls, {args.points} points:")
    rows = [
        ("baseline: MlflowClient.get_metric_history", baseline),
        ("same REST call raw (httpx + json, no protobuf)", raw),
        ("metric_summary(run id)", by_id),
        ("metric_summary(job name)", by_name),
        ("metric_summary over in-process MCP", over_mcp),
        ("plot_metrics (PNG)", plot),
    ]
    for label, seconds in rows:
        print(f"  {label:<48} {seconds * 1000:8.1f} ms  ({seconds / baseline:4.2f}x baseline)")
    size = len(summary.model_dump_json())
    print(f"\nsummary result: {size} bytes of JSON instead of {args.points} points")


if __name__ == "__main__":
    main()
