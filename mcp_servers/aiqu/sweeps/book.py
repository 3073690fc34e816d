"""Hyperparameter sweeps: Optuna ask-and-tell over agent-owned jobs, inside hard limits.

A trial is one job cloned from the sweep's base job with the trial's
parameters appended as `--key=value` (the model never writes a command),
labelled `sweep=<id>` and `trial=<n>` so its events reach the sweep's
conversation. Optuna's storage (`<state_dir>/aiqu/sweeps.db`, sqlite) keeps
the trials, so a sweep survives restarts; the job id is stored on the trial.

Limits, each a refusal that states usage and limit: the sweep's max trials
and max parallel trials, the agent's job and GPU-hour budget (budget.py), and
optional quiet hours. Pruner advice is information for the model; pruning is
its decision.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from core.clock import QuietHours, now
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.settings import AiquSettings

from ..errors import InvalidRequest, Refused
from . import index
from .index import SweepRecord
from .models import BestTrial
from .spec import CategoricalParam, ParamSpec, SweepSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

JOB_ATTR = "job_id"
NOTE_ATTR = "note"
STATE_WORDS = {
    TrialState.RUNNING: "running",
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.WAITING: "waiting",
}
CLOSED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class SweepLimitReached(Refused):
    pass


class SweepBook:
    """The sweeps of one state dir: the index table plus Optuna's storage in one sqlite file.

    The file is opened at the first sweep call, so a skill that never sweeps never
    creates it."""

    def __init__(
        self,
        state_dir: Path,
        quiet_hours: QuietHours | None = None,
        clock: Callable[[], float] = now,  # core.clock: virtual in an eval's skills
    ) -> None:
        self.path = index.sweeps_db(state_dir)
        self.quiet_hours = quiet_hours
        self.clock = clock
        # Tool calls run in worker threads: one sweep operation at a time, so a
        # check and the start it allows cannot interleave with another start.
        self.lock = threading.RLock()

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> SweepBook:
        """The state dir's sweeps, with the quiet hours in the operator's zone."""
        quiet = AiquSettings.from_env(env).quiet_hours
        return cls(env.state, QuietHours.parse(quiet, env.timezone))

    @cached_property
    def index(self) -> sqlite3.Connection:
        return index.connect(self.path)

    @cached_property
    def storage(self) -> optuna.storages.RDBStorage:
        _ = self.index  # it makes the folder and the file first
        return optuna.storages.RDBStorage(f"sqlite:///{self.path}")

    def close(self) -> None:
        if "index" in self.__dict__:
            self.index.close()
        if "storage" in self.__dict__:
            self.storage.remove_session()
            self.storage.engine.dispose()

    def record(self, sweep_id: str) -> SweepRecord:
        found = index.get(self.index, sweep_id)
        if found is None:
            known = ", ".join(f"{r.id} ({r.status})" for r in index.all_sweeps(self.index)[:10])
            raise InvalidRequest(f"no sweep {sweep_id!r}; sweeps: {known or 'none yet'}")
        return found

    def study(self, sweep_id: str) -> optuna.Study:
        return optuna.load_study(study_name=sweep_id, storage=self.storage)

    def set_status(self, sweep_id: str, status: str, note: str | None = None) -> None:
        index.set_status(self.index, sweep_id, status, self.clock(), note)


# -- reading ------------------------------------------------------------------------


def spec_of(record: SweepRecord) -> SweepSpec:
    return SweepSpec.model_validate(record.spec)


def trials_of(study: optuna.Study) -> list[FrozenTrial]:
    """The sweep's trials, without Optuna's queued (waiting) ones."""
    return [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]


def best_trial(trials: list[FrozenTrial], direction: str) -> BestTrial | None:
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        return None
    pick = min if direction == "minimize" else max
    best = pick(done, key=lambda t: float(t.value))  # type: ignore[arg-type]
    return BestTrial(
        trial=best.number,
        value=float(best.value),  # type: ignore[arg-type]
        params=best.params,
        job_id=best.user_attrs.get(JOB_ATTR),
    )


# -- checks -------------------------------------------------------------------------


def check_first_trials(space: dict[str, ParamSpec], points: list[dict[str, Any]]) -> None:
    """Points to try first must name known parameters with values inside their range."""
    for point in points:
        for name, value in point.items():
            spec = space.get(name)
            if spec is None:
                raise InvalidRequest(
                    f"first_trials names {name!r}, not in the search space ({', '.join(space)})"
                )
            if isinstance(spec, CategoricalParam):
                if value not in spec.choices:
                    raise InvalidRequest(
                        f"first_trials {name}={value!r}: not one of {spec.choices}"
                    )
            elif not (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and spec.low <= value <= spec.high
                and math.isfinite(value)
            ):
                raise InvalidRequest(
                    f"first_trials {name}={value!r}: must be a number in [{spec.low}, {spec.high}]"
                )


def closed_trial_check(trial: FrozenTrial, sweep: str) -> None:
    if trial.state != TrialState.RUNNING:
        word = STATE_WORDS.get(trial.state, trial.state.name.lower())
        raise InvalidRequest(
            f"trial {trial.number} of sweep {sweep} is already {word}"
            + (f" with value {trial.value}" if trial.value is not None else "")
            + "; only running trials can be reported or pruned"
        )


def find_trial(study: optuna.Study, sweep: str, number: int) -> FrozenTrial:
    trials = trials_of(study)
    for t in trials:
        if t.number == number:
            return t
    numbers = ", ".join(str(t.number) for t in trials) or "none yet"
    raise InvalidRequest(f"sweep {sweep} has no trial {number}; its trials: {numbers}")
