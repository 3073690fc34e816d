"""The web page reads Optuna's storage with plain SQL: what it shows must be the skill's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_servers.aiqu.backends.base import Job
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps import actions as act
from mcp_servers.aiqu.sweeps.book import SweepBook
from mcp_servers.registry import sweep_views as read_sweep_views
from tests.aiqu.conftest import wait_state

# One parameter of each kind Optuna stores differently (float, int as float, choice as index).
SPACE: dict[str, Any] = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "batch": {"type": "int", "low": 8, "high": 64},
    "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
}


def test_no_sweep_yet_is_an_empty_page(state_dir: Path) -> None:
    assert read_sweep_views(state_dir) == []


def test_trials_params_values_and_best_are_the_skills(
    skill: AiquSkill, book: SweepBook, base_job: Job, state_dir: Path
) -> None:
    act.start_sweep(
        skill, "s1", base_job.id, "val_loss", "minimize", SPACE,
        max_trials=3, max_parallel=3, trial_time_limit_min=5,
        first_trials=[{"lr": 0.5, "batch": 16, "opt": "adam"}],
    )  # fmt: skip
    for value in (0.7, 0.2):
        trial = act.next_trial(skill, "s1")
        wait_state(skill.scheduler, trial.job_id, "succeeded")
        act.report_trial(skill, "s1", trial.trial, value)
    act.next_trial(skill, "s1")  # asked, its job not reported: still running for Optuna

    (view,) = read_sweep_views(state_dir)
    status = act.sweep_status(skill, "s1")

    assert view.record.id == "s1" and view.spec["direction"] == "minimize"
    assert view.trials[0].params == {"lr": 0.5, "batch": 16, "opt": "adam"}
    assert [(t.number, t.params, t.value, t.job_id) for t in view.trials] == [
        (row.trial, row.params, row.value, row.job_id) for row in status.trials
    ]
    assert [t.state for t in view.trials] == ["complete", "complete", "running"]
    assert (view.started, view.running, view.count("complete")) == (3, 1, 2)
    assert view.best is not None and status.best is not None
    assert (view.best.number, view.best.value) == (status.best.trial, 0.2)
