"""Reading a sweep through the skill: its jobs on the scheduler, its limits' usage beside
the agent's budget, and its status (trials, best, limits, pruner advice).

Apart from the book (book.py), which knows only its own database: the book is a part
of the skill, and these read the whole skill.
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from ..backends.base import Job
from ..skill import AiquSkill
from .book import CLOSED, JOB_ATTR, NOTE_ATTR, STATE_WORDS, best_trial, spec_of, trials_of
from .models import SweepLimitsUsage, SweepStatus, TrialRow
from .spec import SweepSpec


def sweep_jobs(skill: AiquSkill, sweep_id: str, *, active_only: bool) -> list[Job]:
    jobs = skill.scheduler.list(include_finished=not active_only)
    return [j for j in jobs if j.labels.get("sweep") == sweep_id]


def open_trial_jobs(skill: AiquSkill, sweep_id: str, trials: list[FrozenTrial]) -> list[Job]:
    """The sweep's active jobs, less those of trials already reported or pruned (a
    reported trial's process may take a moment to exit; it no longer counts)."""
    closed = {t.user_attrs.get(JOB_ATTR) for t in trials if t.state in CLOSED}
    return [j for j in sweep_jobs(skill, sweep_id, active_only=True) if j.id not in closed]


def limits_usage(
    skill: AiquSkill, spec: SweepSpec, trials: list[FrozenTrial], running: int
) -> SweepLimitsUsage:
    book = skill.sweeps
    return SweepLimitsUsage(
        trials_started=len(trials),
        max_trials=spec.max_trials,
        trials_running=running,
        max_parallel=spec.max_parallel,
        quiet_hours=str(book.quiet_hours) if book.quiet_hours else None,
        agent_budget=skill.agent_usage(),
    )


def read_status(skill: AiquSkill, sweep: str) -> SweepStatus:
    """A sweep's trials, best, limits and pruner advice."""
    from .advice import advice_for  # Optuna's pruners, only when a status is read

    book = skill.sweeps
    with book.lock:
        record = book.record(sweep)
        spec = spec_of(record)
        study = book.study(sweep)
        trials = trials_of(study)
        jobs = {j.id: j for j in sweep_jobs(skill, sweep, active_only=False)}
        rows = []
        for t in trials:
            job = jobs.get(t.user_attrs.get(JOB_ATTR, ""))
            running = t.state == TrialState.RUNNING
            rows.append(
                TrialRow(
                    trial=t.number,
                    state=STATE_WORDS.get(t.state, t.state.name.lower()),
                    params=t.params,
                    value=t.value if t.state == TrialState.COMPLETE else None,
                    job_id=t.user_attrs.get(JOB_ATTR),
                    job_state=job.state.value if job else None,
                    last_step=t.last_step,
                    note=t.user_attrs.get(NOTE_ATTR),
                    advice=advice_for(study, t) if running and t.intermediate_values else None,
                )
            )
        active = len(open_trial_jobs(skill, sweep, trials))
        return SweepStatus(
            sweep=sweep,
            status=record.status,
            status_note=record.status_note,
            objective=spec.objective,
            direction=spec.direction,
            base_job=f"{spec.base_job_name} (id {spec.base_job_id})",
            best=best_trial(trials, spec.direction),
            limits=limits_usage(skill, spec, trials, active),
            trials=rows,
        )
