"""A metric history as a handful of numbers: never the raw 10,000 points.

The full history is read once (`get_metric_history`: exact, unlike MLflow's
sampled interval endpoint, which can miss the best value) and reduced with numpy.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Run
from pydantic import Field

from mcp_servers.mlflow.errors import MlflowSkillError
from mcp_servers.mlflow.lookup import RunArg, metric_keys_message, number, resolve_run
from mcp_servers.mlflow.models import MetricSummary, Point
from mcp_servers.mlflow.skill import MlflowSkill

Goal = Literal["min", "max"]


def history(client: MlflowClient, run: Run, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) ordered by step, then by logging time."""
    if metric not in run.data.metrics:
        raise MlflowSkillError(metric_keys_message(run, metric))
    points = client.get_metric_history(run.info.run_id, metric)
    steps = np.fromiter((p.step for p in points), dtype=np.int64, count=len(points))
    times = np.fromiter((p.timestamp for p in points), dtype=np.int64, count=len(points))
    values = np.fromiter((p.value for p in points), dtype=np.float64, count=len(points))
    order = np.lexsort((times, steps))
    return steps[order], values[order]


def metric_summary(
    skill: MlflowSkill,
    run: RunArg,
    metric: str,
    goal: Annotated[Goal, Field(description="which is better")] = "min",
    window_steps: int | None = None,  # default: the last 10 % of the steps
) -> MetricSummary:
    """A metric's first, last and best values and recent trend."""
    if goal not in ("min", "max"):
        raise MlflowSkillError(
            f"goal must be 'min' (losses, errors) or 'max' (accuracy, mAP), got {goal!r}"
        )
    if window_steps is not None and window_steps < 1:
        raise MlflowSkillError(f"window_steps must be at least 1, got {window_steps}")
    found = resolve_run(skill.client, run)
    steps, values = history(skill.client, found, metric)
    return summarise(
        steps,
        values,
        goal,
        window_steps,
        run_id=found.info.run_id,
        run_name=found.info.run_name,
        metric=metric,
    )


def summarise(
    steps: np.ndarray,
    values: np.ndarray,
    goal: Goal,
    window_steps: int | None,
    *,
    run_id: str,
    run_name: str,
    metric: str,
) -> MetricSummary:
    """Reduce a step-ordered history; the window defaults to the last tenth of the steps."""
    last_step = int(steps[-1])
    window = window_steps or max(1, (last_step - int(steps[0])) // 10)
    finite = np.isfinite(values)
    in_window = steps > last_step - window

    best_index = _best(values, finite, goal)
    best = None if best_index is None else _point(steps, values, best_index)

    # Change: the last value against the last value logged at or before the window start.
    before_idx = np.flatnonzero(~in_window)
    baseline = values[before_idx[-1]] if before_idx.size else values[0]
    change = float(values[-1] - baseline)

    improvement = None
    before_best = _best(values, finite & ~in_window, goal)
    window_best = _best(values, finite & in_window, goal)
    if before_best is not None and window_best is not None and values[before_best] != 0:
        gain = values[before_best] - values[window_best]
        if goal == "max":
            gain = -gain
        improvement = float(gain / abs(values[before_best]))

    return MetricSummary(
        run_id=run_id,
        run_name=run_name,
        metric=metric,
        goal=goal,
        points=int(values.size),
        non_finite_points=int(values.size - finite.sum()),
        first=_point(steps, values, 0),
        last=_point(steps, values, values.size - 1),
        best=best,
        steps_since_best=None if best is None else last_step - best.step,
        window_steps=window,
        change_over_window=_finite_or_none(change),
        window_improvement=_finite_or_none(improvement),
    )


def _best(values: np.ndarray, mask: np.ndarray, goal: Goal) -> int | None:
    """Index of the first occurrence of the best value among `mask`, or None."""
    if not mask.any():
        return None
    fill = np.inf if goal == "min" else -np.inf
    masked = np.where(mask, values, fill)
    return int(np.argmin(masked) if goal == "min" else np.argmax(masked))


def _point(steps: np.ndarray, values: np.ndarray, index: int) -> Point:
    return Point(step=int(steps[index]), value=number(float(values[index])))


def _finite_or_none(x: float | None) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return float(number(x))
