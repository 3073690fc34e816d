"""Sweeps over a real local scheduler: trials are real jobs, Optuna's storage is real sqlite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from mcp_servers.aiqu.backends.base import Job
from mcp_servers.aiqu.errors import InvalidRequest
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps import actions as act
from mcp_servers.aiqu.sweeps.book import SweepBook
from tests.aiqu.conftest import wait_state

LR = {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}


def start(skill: AiquSkill, base: Job, sweep: str = "s1", **kw: Any) -> None:
    kw.setdefault("max_trials", 4)
    kw.setdefault("max_parallel", 2)
    kw.setdefault("trial_time_limit_min", 5)
    space = kw.pop("space", LR)
    act.start_sweep(skill, sweep, base.id, "val_loss", "minimize", space, **kw)


def test_next_trial_starts_an_agent_job_with_the_trials_params(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job, fixed_params={"epochs": 3})
    started = act.next_trial(skill, "s1")
    job = skill.scheduler.get(started.job_id)
    assert job.labels["sweep"] == "s1" and job.labels["trial"] == "0"
    assert job.labels["submitted_by"] == "agent" and job.name == "s1/trial-0"
    assert job.spec is not None and job.spec.gpus == 1 and job.spec.time_limit_min == 5
    assert f"--lr={started.params['lr']}" in job.spec.command and "--epochs=3" in job.spec.command
    trial = optuna.load_study(study_name="s1", storage=book.storage).trials[0]
    assert trial.user_attrs["job_id"] == job.id and trial.params == started.params


def test_first_trials_are_tried_first(skill: AiquSkill, book: SweepBook, base_job: Job) -> None:
    start(skill, base_job, first_trials=[{"lr": 0.5}])
    assert act.next_trial(skill, "s1").params == {"lr": 0.5}


def test_report_records_the_value_and_finishes_the_sweep(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job, max_trials=1)
    started = act.next_trial(skill, "s1")
    wait_state(skill.scheduler, started.job_id, "succeeded")
    closed = act.report_trial(skill, "s1", 0, 0.4)
    assert closed.state == "complete" and closed.sweep_status == "finished"
    assert closed.best is not None and closed.best.value == 0.4
    with pytest.raises(InvalidRequest, match="already complete"):
        act.report_trial(skill, "s1", 0, 0.3)


def test_best_follows_the_direction(skill: AiquSkill, book: SweepBook, base_job: Job) -> None:
    start(skill, base_job, max_trials=2)
    for value in (0.7, 0.2):
        t = act.next_trial(skill, "s1")
        wait_state(skill.scheduler, t.job_id, "succeeded")
        act.report_trial(skill, "s1", t.trial, value)
    status = act.sweep_status(skill, "s1")
    assert status.best is not None and status.best.value == 0.2 and status.best.trial == 1
    assert [r.state for r in status.trials] == ["complete", "complete"]


def test_prune_cancels_the_running_job_and_records_the_reason(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job, fixed_params={"sleep": 30})
    t = act.next_trial(skill, "s1")
    wait_state(skill.scheduler, t.job_id, "running")
    closed = act.prune_trial(skill, "s1", 0, "val_loss flat at 0.69")
    assert closed.state == "pruned" and "cancelled job" in closed.message
    assert skill.scheduler.get(t.job_id).state.value == "cancelled"
    row = act.sweep_status(skill, "s1").trials[0]
    assert row.state == "pruned" and row.note == "val_loss flat at 0.69"


def test_restart_reuses_an_asked_trial_that_never_got_a_job(
    skill: AiquSkill, make_book: Callable[..., SweepBook], base_job: Job
) -> None:
    book = skill.book = make_book()
    start(skill, base_job)
    # A crash between ask and submit leaves a running trial with no job.
    book.study("s1").ask(act.distributions(act.spec_of(book.record("s1")).space))
    book.close()
    reopened = skill.book = make_book()  # as after a restart of the skill
    started = act.next_trial(skill, "s1")
    assert started.trial == 0
    assert len(reopened.study("s1").trials) == 1
    assert len([j for j in skill.scheduler.list() if j.labels.get("sweep") == "s1"]) == 1


def test_restart_adopts_a_job_submitted_before_the_trial_recorded_it(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job)
    trial = book.study("s1").ask(act.distributions(act.spec_of(book.record("s1")).space))
    # A crash between submit and recording the job id: the job exists, labelled.
    job = act.actions.submit_job(
        skill, base_job.id, name="s1/trial-0", labels={"sweep": "s1", "trial": "0"}
    )
    started = act.next_trial(skill, "s1")
    assert started.trial == trial.number and started.job_id == job.job.id
    assert len([j for j in skill.scheduler.list() if j.labels.get("sweep") == "s1"]) == 1


def test_progress_advice_from_optunas_median_pruner(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    start(skill, base_job, max_parallel=3)
    jobs = [act.next_trial(skill, "s1").job_id for _ in range(3)]
    for trial, level in ((0, 0.3), (1, 0.35)):
        for step in range(5):
            act.report_progress(skill, "s1", trial, step, level - 0.01 * step)
        wait_state(skill.scheduler, jobs[trial], "succeeded")
        act.report_trial(skill, "s1", trial, level - 0.04)
    advice = None
    for step in range(5):
        advice = act.report_progress(skill, "s1", 2, step, 0.69)
    assert advice is not None and advice.advice == ["median: prune"]
    rows = act.sweep_status(skill, "s1").trials
    assert rows[2].advice == ["median: prune"] and rows[2].last_step == 4
    assert rows[0].advice is None  # only running trials get advice


@pytest.mark.parametrize(
    ("space", "complaint"),
    [
        ({}, "empty"),
        ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "below high"),
        ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "log scale"),
        ({"lr": {"type": "normal"}}, "lr"),
        ({"--lr": {"type": "int", "low": 1, "high": 3}}, "invalid parameter name"),
    ],
)
def test_bad_search_space_is_refused_and_creates_nothing(
    skill: AiquSkill, book: SweepBook, base_job: Job, space: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidRequest, match=complaint):
        start(skill, base_job, space=space)
    assert act.sweep_status(skill).sweeps == []


def test_first_trial_outside_the_space_is_refused(
    skill: AiquSkill, book: SweepBook, base_job: Job
) -> None:
    with pytest.raises(InvalidRequest, match=r"must be a number in \[0.0001, 1.0\]"):
        start(skill, base_job, first_trials=[{"lr": 5.0}])


def test_same_sweep_id_twice_is_refused(skill: AiquSkill, book: SweepBook, base_job: Job) -> None:
    start(skill, base_job)
    with pytest.raises(InvalidRequest, match="exists already"):
        start(skill, base_job)


def test_list_sweeps_counts_trials(skill: AiquSkill, book: SweepBook, base_job: Job) -> None:
    start(skill, base_job)
    act.next_trial(skill, "s1")
    (row,) = act.sweep_status(skill).sweeps
    assert row.sweep == "s1" and row.trials.startswith("1/4 started") and row.status == "active"
    _ = time
