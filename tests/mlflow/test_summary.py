"""metric_summary: the pure reduction on arrays, then over the real server's histories."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mcp_servers.mlflow.errors import MlflowSkillError
from mcp_servers.mlflow.models import MetricSummary
from mcp_servers.mlflow.skill import MlflowSkill
from mcp_servers.mlflow.summary import metric_summary, summarise
from tests.mlflow.conftest import LONG_STEPS


def reduce(values: list[float], goal: str = "min", window: int | None = None) -> MetricSummary:
    steps = np.arange(len(values), dtype=np.int64)
    return summarise(
        steps,
        np.array(values),
        goal,
        window,
        run_id="r",
        run_name="n",
        metric="m",  # type: ignore[arg-type]
    )


def test_best_is_the_first_step_reaching_it() -> None:
    s = reduce([3.0, 1.0, 2.0, 1.0, 1.5])
    assert (s.best.step, s.best.value) == (1, 1.0)  # type: ignore[union-attr]
    assert s.steps_since_best == 3
    assert (s.first.value, s.last.step, s.last.value, s.points) == (3.0, 4, 1.5, 5)


def test_goal_max_picks_the_highest() -> None:
    s = reduce([0.1, 0.7, 0.5], goal="max")
    assert (s.best.step, s.best.value) == (1, 0.7)  # type: ignore[union-attr]


def test_window_change_and_improvement() -> None:
    # A window of 2 steps holds steps 3 and 4 (best 2.0); before it the best is 5.0.
    s = reduce([10.0, 6.0, 5.0, 4.0, 2.0], window=2)
    assert s.window_steps == 2
    assert s.change_over_window == -3.0  # 2.0 (last) - 5.0 (step 2, the window's start)
    assert s.window_improvement == 0.6  # (5.0 - 2.0) / 5.0


def test_plateau_shows_as_no_improvement_in_window() -> None:
    s = reduce([1.0, 0.5, 0.3, 0.3, 0.31, 0.3], window=3)
    assert s.window_improvement == 0.0
    worse = reduce([1.0, 0.5, 0.3, 0.4, 0.35], window=2)
    assert worse.window_improvement is not None and worse.window_improvement < 0


def test_default_window_is_a_tenth_of_the_steps() -> None:
    assert reduce([1.0] * 101).window_steps == 10
    assert reduce([1.0, 2.0]).window_steps == 1  # never zero


def test_non_finite_values_are_counted_and_never_best() -> None:
    s = reduce([0.5, 0.4, float("nan"), float("inf"), float("nan")])
    assert s.non_finite_points == 3
    assert (s.best.step, s.best.value) == (1, 0.4)  # type: ignore[union-attr]
    assert s.last.value == "nan"
    assert s.change_over_window is None


def test_all_nan_has_no_best() -> None:
    s = reduce([float("nan")] * 3)
    assert s.best is None and s.steps_since_best is None and s.window_improvement is None


def test_plateau_run_from_the_server(skill: MlflowSkill) -> None:
    s = metric_summary(skill, "pcb-lr-1e-3", "val_loss", window_steps=5)
    assert s.points == 30 and s.run_name == "pcb-lr-1e-3"
    assert (s.best.step, s.best.value) == (16, 0.2)  # type: ignore[union-attr]
    assert s.steps_since_best == 13
    assert s.change_over_window == 0.0
    assert s.window_improvement == 0.0


def test_still_improving_run_from_the_server(skill: MlflowSkill) -> None:
    s = metric_summary(skill, "pcb-lr-1e-2", "val_acc", goal="max", window_steps=5)
    assert s.best.step == 29 and s.steps_since_best == 0  # type: ignore[union-attr]
    assert s.window_improvement is not None and s.window_improvement > 0
    assert s.change_over_window is not None and s.change_over_window > 0


def test_long_history_is_summarised_quickly(skill: MlflowSkill) -> None:
    began = time.monotonic()
    s = metric_summary(skill, "seg-long", "train_loss")
    elapsed = time.monotonic() - began
    assert s.points == LONG_STEPS
    assert s.best.step == LONG_STEPS - 1  # type: ignore[union-attr]
    assert s.first.value == 2.1
    assert s.window_steps == (LONG_STEPS - 1) // 10
    # ~0.7 s on an idle 2-core machine; the bound leaves room for a loaded CI box.
    assert elapsed < 10, f"summary of {LONG_STEPS} points took {elapsed:.1f} s"


def test_diverged_run_counts_its_nans(skill: MlflowSkill) -> None:
    s = metric_summary(skill, "seg-diverged", "val_loss")
    assert s.non_finite_points == 5 and s.last.value == "nan"
    assert (s.best.step, s.best.value) == (0, 0.5)  # type: ignore[union-attr]


def test_summary_refuses_bad_input(skill: MlflowSkill) -> None:
    with pytest.raises(
        MlflowSkillError,
        match="metric 'val_los' not logged in run pcb-lr-1e-3; "
        "metrics: train_loss, val_acc, val_loss",
    ):
        metric_summary(skill, "pcb-lr-1e-3", "val_los")
    with pytest.raises(MlflowSkillError, match="goal must be 'min'"):
        metric_summary(skill, "pcb-lr-1e-3", "val_loss", goal="lower")
    with pytest.raises(MlflowSkillError, match="window_steps must be at least 1"):
        metric_summary(skill, "pcb-lr-1e-3", "val_loss", window_steps=0)
