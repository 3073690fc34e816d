"""Sweeps as the page shows them: the sweeps table plus their trials, read-only.

The aiqu skill keeps each sweep's spec in `core.sweeps`'s table and its trials
in Optuna's storage in the same sqlite file. The supervisor never loads Optuna
(or the skill), so the trials are read here with plain SQL from Optuna's
storage tables (`studies`, `trials`, `trial_values`, `trial_params`,
`trial_user_attributes`), opened read-only.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.sweeps import SweepRecord, all_sweeps, has_table, read_only


@dataclass(frozen=True)
class Trial:
    number: int
    state: str  # running | complete | pruned | fail | waiting
    value: float | None
    params: dict[str, Any]
    job_id: str | None


@dataclass(frozen=True)
class SweepView:
    record: SweepRecord
    trials: list[Trial] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return self.record.spec

    @property
    def started(self) -> int:
        return sum(t.state != "waiting" for t in self.trials)

    @property
    def running(self) -> int:
        return sum(t.state == "running" for t in self.trials)

    def count(self, state: str) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def best(self) -> Trial | None:
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        if not done:
            return None
        pick = max if self.spec.get("direction") == "maximize" else min
        return pick(done, key=lambda t: float(t.value or 0.0))


def read_sweep_views(state_dir: Path) -> list[SweepView]:
    """Every sweep with its trials, newest first."""
    with read_only(state_dir) as conn:
        if conn is None or not has_table(conn, "mlops_sweeps"):
            return []
        with_trials = has_table(conn, "trials")
        return [SweepView(r, _trials(conn, r.id) if with_trials else []) for r in all_sweeps(conn)]


def _trials(conn: sqlite3.Connection, sweep_id: str) -> list[Trial]:
    rows = conn.execute(
        "SELECT t.trial_id, t.number, t.state, v.value FROM trials t"
        " JOIN studies s ON s.study_id = t.study_id"
        " LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0"
        " WHERE s.study_name = ? ORDER BY t.number",
        (sweep_id,),
    ).fetchall()
    trials = []
    for trial_id, number, state, value in rows:
        params = {
            name: _param(raw, distribution)
            for name, raw, distribution in conn.execute(
                "SELECT param_name, param_value, distribution_json FROM trial_params"
                " WHERE trial_id = ? ORDER BY param_id",
                (trial_id,),
            )
        }
        job = conn.execute(
            "SELECT value_json FROM trial_user_attributes WHERE trial_id = ? AND key = 'job_id'",
            (trial_id,),
        ).fetchone()
        trials.append(
            Trial(number, str(state).lower(), value, params, json.loads(job[0]) if job else None)
        )
    return trials


def _param(raw: float, distribution_json: str) -> Any:
    """Optuna stores a categorical choice as its index, an int as a float."""
    distribution = json.loads(distribution_json)
    attributes = distribution.get("attributes", {})
    if distribution.get("name") == "CategoricalDistribution":
        return attributes["choices"][int(raw)]
    if distribution.get("name") == "IntDistribution":
        return int(raw)
    return raw
