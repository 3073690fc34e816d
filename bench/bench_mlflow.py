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
import logging
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
from agent.service.mlflow_server import MlflowServer  # noqa: E402
from mcp_servers.mlflow.plots import plot_metrics  # noqa: E402
from mcp_servers.mlflow.server import build_server  # noqa: E402
from mcp_servers.mlflow.skill import MlflowSkill  # noqa: E402
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


async def measure(
    server: MlflowServer, client: MlflowClient, run_id: str, attachments: Path, runs: int
) -> dict[str, list[float]]:
    """Seconds per call for each contender, taking turns every round so that load
    from other processes on a shared machine falls on all of them alike."""
    raw_url = server.uri + "/api/2.0/mlflow/metrics/get-history"
    raw_params = {"run_id": run_id, "metric_key": "train_loss"}
    args = {"run": run_id, "metric": "train_loss"}
    skill = MlflowSkill(client, attachments)
    async with mcp.Client(build_server(skill)) as c:

        async def over_mcp() -> None:
            result = await c.call_tool("metric_summary", args)
            assert not result.is_error

        contenders: dict[str, Callable[[], object]] = {
            BASELINE: lambda: client.get_metric_history(run_id, "train_loss"),
            "same REST call raw (httpx + json, no protobuf)": lambda: httpx.get(
                raw_url, params=raw_params, timeout=60
            ).json(),
            "metric_summary(run id)": lambda: metric_summary(skill, run_id, "train_loss"),
            "metric_summary(job name)": lambda: metric_summary(skill, "bench/long", "train_loss"),
            "metric_summary over in-process MCP": over_mcp,
            "plot_metrics (PNG)": lambda: plot_metrics(skill, [run_id], ["train_loss"]),
        }
        times: dict[str, list[float]] = {label: [] for label in contenders}
        for round_ in range(runs + 1):  # round 0 warms connection pools and caches
            for label, fn in contenders.items():
                began = time.perf_counter()
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
                if round_:
                    times[label].append(time.perf_counter() - began)
        return times


BASELINE = "baseline: MlflowClient.get_metric_history"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        with MlflowServer(Path(tmp) / "mlflow") as server:
            print(f"mlflow server up in {time.perf_counter() - began:.1f} s at {server.uri}")
            client = MlflowClient(server.uri)
            began = time.perf_counter()
            run_id = log_run(client, args.points)
            print(f"logged {args.points} points in {time.perf_counter() - began:.2f} s")
            times = asyncio.run(measure(server, client, run_id, Path(tmp) / "att", args.runs))
            summary = metric_summary(MlflowSkill(client, Path(tmp) / "att"), run_id, "train_loss")

    print(f"\nmedian of {args.runs} rounds, {args.points} points:")
    baseline = statistics.median(times[BASELINE])
    for label, samples in times.items():
        seconds = statistics.median(samples)
        print(f"  {label:<48} {seconds * 1000:8.1f} ms  ({seconds / baseline:4.2f}x baseline)")
    size = len(summary.model_dump_json())
    print(f"\nsummary result: {size} bytes of JSON instead of {args.points} points")


if __name__ == "__main__":
    main()
