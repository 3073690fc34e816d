"""A scenario's MLflow runs, logged into the shared server and hidden again afterwards.

Each run gets the `mlops.job` tag the reporter would set, its params and full
metric histories. Experiments carry the run's namespace tag, so deleting them
(MLflow keeps deleted ones, and their names) hides exactly this run's data
from the skill, which searches active experiments only.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from evals.scenario import Curve, MetricValues

JOB_TAG = "mlops.job"
BATCH = 900  # MLflow takes at most 1000 metrics per log_batch


@dataclass(frozen=True)
class RunToLog:
    name: str
    experiment: str
    status: str
    params: dict[str, str | int | float]
    metrics: dict[str, MetricValues]
    tags: dict[str, str]


@dataclass
class LoggedRuns:
    client: MlflowClient
    experiment_ids: list[str] = field(default_factory=list)
    run_ids: dict[str, str] = field(default_factory=dict)  # run name -> id

    def delete(self) -> None:
        for experiment_id in self.experiment_ids:
            self.client.delete_experiment(experiment_id)
        self.experiment_ids.clear()


def values(spec: MetricValues) -> list[float]:
    if isinstance(spec, Curve):
        n = spec.steps - 1
        if spec.shape == "linear":
            return [spec.start + (spec.end - spec.start) * i / n for i in range(spec.steps)]
        # Exponential approach: most of the change early, flattening towards `end`.
        return [
            spec.end + (spec.start - spec.end) * math.exp(-5 * i / n) for i in range(spec.steps)
        ]
    return [float(v) for v in spec]


def log_runs(tracking_uri: str, runs: list[RunToLog], tag: str) -> LoggedRuns:
    with _quiet():
        client = MlflowClient(tracking_uri)
        logged = LoggedRuns(client)
        experiments: dict[str, str] = {}
        for run in runs:
            if run.experiment not in experiments:
                experiment_id = client.create_experiment(f"{run.experiment}-{tag}")
                experiments[run.experiment] = experiment_id
                logged.experiment_ids.append(experiment_id)
            created = client.create_run(
                experiments[run.experiment], run_name=run.name, tags=run.tags
            )
            run_id = created.info.run_id
            now = int(time.time() * 1000)
            metrics = [
                Metric(key, value, now + step, step)
                for key, spec in run.metrics.items()
                for step, value in enumerate(values(spec))
            ]
            params = [Param(k, str(v)) for k, v in run.params.items()]
            for start in range(0, max(len(metrics), 1), BATCH):
                client.log_batch(
                    run_id,
                    metrics=metrics[start : start + BATCH],
                    params=params if start == 0 else [],
                    tags=[RunTag("mlflow.runName", run.name)] if start == 0 else [],
                )
            if run.status != "RUNNING":
                client.set_terminated(run_id, run.status)
            logged.run_ids[run.name] = run_id
        return logged


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow prints run URLs to stdout unless told not to (read at each call)."""
    key = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    before = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
