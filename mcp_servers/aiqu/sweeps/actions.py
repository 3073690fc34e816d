"""The sweep tools: start a sweep, start its next trial, report, prune, pause, read.

Plain functions over the injected skill, whose `sweeps` book holds the sweeps
(server.py only registers them). Every trial start passes, in order: the sweep
is active, quiet hours, max trials, max parallel, the agent's budget (checked
before Optuna is asked, so a refusal leaves no trial behind), then the start
itself through `actions.submit_job`, which checks the budget again atomically.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from optuna.trial import FrozenTrial, TrialState
from pydantic import Field, ValidationError, WithJsonSchema

from mcp_servers.compact import INTEGER

from .. import actions
from ..errors import InvalidRequest, Refused
from ..jobs import resolve_job
from ..ownership import check_cancel_allowed
from ..params import Minutes, ParamValue, TurnId
from ..route_check import refuse_from_another_route
from ..skill import AiquSkill
from . import index
from .advice import advice_for
from .book import (
    CLOSED,
    JOB_ATTR,
    NOTE_ATTR,
    STATE_WORDS,
    SweepBook,
    SweepLimitReached,
    best_trial,
    check_first_trials,
    closed_trial_check,
    find_trial,
    spec_of,
    trials_of,
)
from .models import (
    ProgressAdvice,
    SweepList,
    SweepRow,
    SweepStatus,
    TrialClosed,
    TrialStarted,
)
from .quiet import check_quiet_hours
from .spec import SweepSpec, check_sweep_id, distributions, parse_space
from .status import limits_usage, open_trial_jobs, read_status, sweep_jobs

MAX_NOTE_CHARS = 300

# A parameter is described only where its name and type leave the model guessing.
SweepId = str
TrialNo = Annotated[int, Field(ge=0)]
# Optuna's search space, validated by parse_space; the nested schema would only say "object".
Space = Annotated[dict[str, dict[str, Any]], WithJsonSchema({"type": "object"})]


def start_sweep(
    skill: AiquSkill,
    sweep: str,
    base_job: Annotated[str, Field(description="the job each trial clones")],
    objective: Annotated[str, Field(description="e.g. val_loss")],
    direction: Literal["minimize", "maximize"],
    space: Annotated[
        Space,
        Field(
            description='e.g. {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},'
            ' "opt": {"type": "categorical", "choices": ["sgd", "adam"]}}'
        ),
    ],
    max_trials: Annotated[int, Field(ge=1, le=1000), INTEGER],
    max_parallel: Annotated[int, Field(ge=1, le=64), INTEGER] = 2,
    trial_time_limit_min: Minutes | None = None,
    fixed_params: Annotated[
        dict[str, ParamValue] | None, Field(description="same in every trial")
    ] = None,
    first_trials: Annotated[
        list[dict[str, ParamValue]] | None, Field(description="params to try first")
    ] = None,
    turn_id: TurnId = None,
) -> SweepStatus:
    """Create a sweep; next_trial starts its jobs."""
    book = skill.sweeps
    check_sweep_id(sweep)
    parsed = parse_space(space)
    check_first_trials(parsed, first_trials or [])
    base = resolve_job(skill.scheduler, base_job)
    refuse_from_another_route(skill, turn_id, base.name)
    if base.spec is None:
        raise InvalidRequest(f"job {base.id} has no stored spec to clone; pick another base job")
    actions.with_params(base.spec.command, {**(fixed_params or {}), **dict.fromkeys(parsed, 0)})
    try:
        spec = SweepSpec(
            base_job_id=base.id,
            base_job_name=base.name,
            objective=objective,
            direction=direction,
            space=parsed,
            max_trials=max_trials,
            max_parallel=max_parallel,
            trial_time_limit_min=trial_time_limit_min or skill.budget.limits.default_time_limit_min,
            fixed_params=fixed_params or {},
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(f"{first['loc'][0]}: {first['msg']}") from None
    with book.lock:
        existing = index.get(book.index, sweep)
        if existing is not None:
            raise InvalidRequest(
                f"sweep {sweep!r} exists already ({existing.status}); pick another id, or read"
                " it with sweep_status"
            )
        import optuna

        # load_if_exists: a study left by a start that died before its index row.
        study = optuna.create_study(
            study_name=sweep, storage=book.storage, direction=spec.direction, load_if_exists=True
        )
        if not study.get_trials(deepcopy=False):
            for point in first_trials or []:
                study.enqueue_trial(point)
        index.insert(book.index, sweep, spec.model_dump(mode="json"), book.clock())
    return read_status(skill, sweep)


def next_trial(skill: AiquSkill, sweep: SweepId) -> TrialStarted:
    """Start the sweep's next trial."""
    book = skill.sweeps
    with book.lock:
        record = book.record(sweep)
        spec = spec_of(record)
        if record.status != "active":
            raise Refused(
                f"refused: sweep {sweep} is {record.status}"
                + (f" ({record.status_note})" if record.status_note else "")
                + (
                    "; control_sweep action=resume starts it again"
                    if record.status != "finished"
                    else ""
                )
            )
        if book.quiet_hours is not None:
            check_quiet_hours(book.quiet_hours, book.clock())
        study = book.study(sweep)
        trials = trials_of(study)
        orphan = next(
            (t for t in trials if t.state == TrialState.RUNNING and JOB_ATTR not in t.user_attrs),
            None,
        )
        active = open_trial_jobs(skill, sweep, trials)
        if orphan is None and len(trials) >= spec.max_trials:
            raise SweepLimitReached(
                f"refused: sweep {sweep} has started {len(trials)} of {spec.max_trials} trials"
                " allowed; report or prune the running ones, then read sweep_status for the best"
            )
        if len(active) >= spec.max_parallel:
            ids = ", ".join(f"{j.id} (trial {j.labels.get('trial')})" for j in active)
            raise SweepLimitReached(
                f"refused: sweep {sweep} has {len(active)} of {spec.max_parallel} parallel trials"
                f" allowed running or pending (jobs {ids}); wait for one to end or prune one"
            )
        base = skill.scheduler.get(spec.base_job_id)
        gpus = base.spec.gpus if base.spec else base.gpus
        # Dry run of the budget: raises with usage and limit, records nothing.
        with skill.budget.spend(
            skill.count_active_agent_jobs,
            gpus=gpus,
            time_limit_min=spec.trial_time_limit_min,
            action="check",
        ):
            pass
        number, trial_id, params = _trial_to_start(book, study, spec, orphan)
        name = f"{sweep}/trial-{number}"
        adopted = _job_of_trial(skill, sweep, number)
        if adopted is None:
            result = actions.submit_job(
                skill,
                spec.base_job_id,
                name=name,
                params={**spec.fixed_params, **params},
                time_limit_min=spec.trial_time_limit_min,
                labels={"sweep": sweep, "trial": str(number)},
            )
            job_id = result.job.id
        else:
            job_id = adopted  # started before a crash; never start it twice
        book.storage.set_trial_user_attr(trial_id, JOB_ATTR, job_id)
        index.touch(book.index, sweep, book.clock())
        running = len(active) + (1 if adopted is None else 0)
        return TrialStarted(
            message=f"started trial {number} of sweep {sweep} as job {job_id} ({name})",
            sweep=sweep,
            trial=number,
            params=params,
            job_id=job_id,
            job_name=name,
            limits=limits_usage(skill, spec, trials_of(study), running),
        )


def _trial_to_start(
    book: SweepBook, study: Any, spec: SweepSpec, orphan: FrozenTrial | None
) -> tuple[int, int, dict[str, Any]]:
    """An asked trial that never got its job (a crash or refusal in between), else a new one."""
    if orphan is not None:
        return orphan.number, orphan._trial_id, dict(orphan.params)
    trial = study.ask(distributions(spec.space))
    return trial.number, trial._trial_id, dict(trial.params)


def _job_of_trial(skill: AiquSkill, sweep: str, number: int) -> str | None:
    for job in sweep_jobs(skill, sweep, active_only=False):
        if job.labels.get("trial") == str(number):
            return job.id
    return None


def report_trial(
    skill: AiquSkill,
    sweep: SweepId,
    trial: TrialNo,
    value: Annotated[float | None, Field(description="null if none")],
    step: Annotated[int | None, Field(description="while it runs")] = None,
) -> TrialClosed | ProgressAdvice:
    """A sweep trial's objective: when it ends, or with step while it runs."""
    # One tool for both (the model reads every tool's schema on every turn).
    if step is not None:
        if value is None:
            raise InvalidRequest("a running trial's report needs its value at that step")
        return report_progress(skill, sweep, trial, step, value)
    return close_trial(skill, sweep, trial, value)


def close_trial(
    skill: AiquSkill, sweep: SweepId, trial: TrialNo, value: float | None
) -> TrialClosed:
    """Record an ended trial's objective."""
    # None marks the trial failed (no objective). The job may still be exiting: its
    # `finished` event comes before the process ends.
    book = skill.sweeps
    if value is not None and not math.isfinite(value):
        raise InvalidRequest(
            f"value must be a finite number, got {value}; pass null if the trial failed"
        )
    with book.lock:
        study = book.study(book.record(sweep).id)
        found = find_trial(study, sweep, trial)
        closed_trial_check(found, sweep)
        if value is None:
            study.tell(found.number, state=TrialState.FAIL)
        else:
            study.tell(found.number, value)
        return _closed(skill, sweep, found.number, f"recorded trial {trial}: {value}")


def prune_trial(
    skill: AiquSkill,
    sweep: SweepId,
    trial: TrialNo,
    reason: Annotated[str, Field(description="with the numbers")],
) -> TrialClosed:
    """Early-stop a trial (cancel its job)."""
    # The job is stopped only if it still runs, and only if the agent started it.
    book = skill.sweeps
    reason = reason.strip()[:MAX_NOTE_CHARS]
    if not reason:
        raise InvalidRequest("give a short reason, e.g. 'val_loss flat for 3 epochs at 0.69'")
    with book.lock:
        study = book.study(book.record(sweep).id)
        found = find_trial(study, sweep, trial)
        closed_trial_check(found, sweep)
        job_id = found.user_attrs.get(JOB_ATTR)
        job = skill.scheduler.get(job_id) if job_id else None
        stopped = ""
        if job is not None and job.state.active:
            # Never through the write gate: a sweep stops only what the agent started.
            check_cancel_allowed(job)
            skill.scheduler.cancel(job.id)
            stopped = f", cancelled job {job.id}"
        book.storage.set_trial_user_attr(found._trial_id, NOTE_ATTR, reason)
        study.tell(found.number, state=TrialState.PRUNED)
        return _closed(skill, sweep, found.number, f"pruned trial {trial}{stopped}")


def report_progress(
    skill: AiquSkill,
    sweep: SweepId,
    trial: TrialNo,
    step: Annotated[int, Field(ge=0)],
    value: float,
) -> ProgressAdvice:
    """Record a running trial's objective at a step; returns pruner advice."""
    book = skill.sweeps
    if not math.isfinite(value) or step < 0:
        raise InvalidRequest(f"need a finite value and a step >= 0, got step={step} value={value}")
    with book.lock:
        study = book.study(book.record(sweep).id)
        found = find_trial(study, sweep, trial)
        closed_trial_check(found, sweep)
        book.storage.set_trial_intermediate_value(found._trial_id, step, value)
        fresh = find_trial(study, sweep, trial)
        return ProgressAdvice(
            sweep=sweep, trial=trial, step=step, value=value, advice=advice_for(study, fresh)
        )


def _closed(skill: AiquSkill, sweep: str, number: int, message: str) -> TrialClosed:
    book = skill.sweeps
    record = book.record(sweep)
    spec = spec_of(record)
    trials = trials_of(book.study(sweep))
    closed = sum(1 for t in trials if t.state in CLOSED)
    now = record.status
    if now == "active" and closed >= spec.max_trials:
        now = "finished"
        book.set_status(sweep, now, f"all {spec.max_trials} trials done")
    else:
        index.touch(book.index, sweep, book.clock())
    state = next(t.state for t in trials if t.number == number)
    return TrialClosed(
        message=message,
        sweep=sweep,
        trial=number,
        state=STATE_WORDS[state],
        sweep_status=now,
        best=best_trial(trials, spec.direction),
        trials_left=max(0, spec.max_trials - len(trials)),
    )


def control_sweep(
    skill: AiquSkill,
    sweep: SweepId,
    action: Literal["pause", "resume", "stop"],
    note: Annotated[str | None, Field(description="who asked")] = None,
) -> SweepStatus:
    """Pause, resume or stop a sweep's new trials (running ones go on)."""
    book = skill.sweeps
    with book.lock:
        record = book.record(sweep)
        if record.status == "finished":
            raise InvalidRequest(
                f"sweep {sweep} is finished (all trials done); start a new sweep to try more"
            )
        status = {"pause": "paused", "resume": "active", "stop": "stopped"}[action]
        book.set_status(sweep, status, (note or "").strip()[:MAX_NOTE_CHARS] or None)
    return read_status(skill, sweep)


def sweep_status(skill: AiquSkill, sweep: SweepId | None = None) -> SweepStatus | SweepList:
    """A sweep's trials, best and pruner advice; no sweep: all sweeps."""
    if sweep is None:
        return _list_sweeps(skill.sweeps)
    return read_status(skill, sweep)


def _list_sweeps(book: SweepBook) -> SweepList:
    rows = []
    with book.lock:
        for record in index.all_sweeps(book.index)[:30]:
            spec = spec_of(record)
            trials = trials_of(book.study(record.id))
            running = sum(1 for t in trials if t.state == TrialState.RUNNING)
            best = best_trial(trials, spec.direction)
            rows.append(
                SweepRow(
                    sweep=record.id,
                    status=record.status,
                    objective=f"{spec.direction} {spec.objective}",
                    trials=f"{len(trials)}/{spec.max_trials} started, {running} running",
                    best_value=best.value if best else None,
                )
            )
    return SweepList(sweeps=rows)
