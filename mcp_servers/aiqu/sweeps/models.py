"""Compact sweep results: what the model reads back about a sweep and its trials."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..models import AgentUsage

ParamValues = dict[str, str | int | float]


class TrialRow(BaseModel):
    trial: int = Field(description="trial number within the sweep, from 0")
    state: str = Field(description="running | complete | pruned | failed")
    params: ParamValues
    value: float | None = Field(None, description="objective, once reported")
    job_id: str | None = None
    job_state: str | None = Field(None, description="the scheduler's state of the trial's job")
    last_step: int | None = Field(None, description="last step with a reported progress value")
    note: str | None = Field(None, description="why it was pruned, when it was")
    advice: list[str] | None = Field(
        None,
        description="Optuna pruners' verdicts on a running trial from its reported progress;"
        " information, not a decision",
    )


class BestTrial(BaseModel):
    trial: int
    value: float
    params: ParamValues
    job_id: str | None


class SweepLimitsUsage(BaseModel):
    trials_started: int
    max_trials: int
    trials_running: int = Field(description="the sweep's jobs pending or running now")
    max_parallel: int
    quiet_hours: str | None = Field(None, description="when no new trial may start, local time")
    agent_budget: AgentUsage


class SweepStatus(BaseModel):
    sweep: str
    status: str = Field(description="active | paused | stopped | finished")
    status_note: str | None = None
    objective: str
    direction: str
    base_job: str
    best: BestTrial | None
    limits: SweepLimitsUsage
    trials: list[TrialRow]


class TrialStarted(BaseModel):
    message: str
    sweep: str
    trial: int
    params: ParamValues
    job_id: str
    job_name: str
    limits: SweepLimitsUsage


class TrialClosed(BaseModel):
    message: str
    sweep: str
    trial: int
    state: str
    sweep_status: str
    best: BestTrial | None
    trials_left: int = Field(description="trials that may still be started")


class SweepRow(BaseModel):
    sweep: str
    status: str
    objective: str
    trials: str = Field(description="e.g. '4/6 started, 1 running'")
    best_value: float | None


class SweepList(BaseModel):
    sweeps: list[SweepRow]


class ProgressAdvice(BaseModel):
    sweep: str
    trial: int
    step: int
    value: float
    advice: list[str] = Field(description="Optuna pruners' verdicts; the decision is yours")
