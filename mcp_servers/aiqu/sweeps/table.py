"""The sweeps table: its shape, and the read-only readers the plugin hands the supervisor.

The skill keeps one small table beside Optuna's own in `<state_dir>/aiqu/sweeps.db`:
each sweep's spec and status (`index` writes it). Trials live in Optuna's storage
tables in the same file (`studies`, `trials`, `trial_values`, `trial_params`,
`trial_user_attributes`); `read_views` reads them here with plain SQL, opened
read-only, so the supervisor that calls it never loads Optuna or the skill.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp_servers.sweep_views import SweepRecord, SweepView, Trial

SWEEPS_DB = Path("aiqu") / "sweeps.db"  # relative to the state dir
STATUSES = ("active", "paused", "stopped", "finished")
COLUMNS = "id, spec, status, created, updated, status_note"

SCHEMA = """
CREATE TABLE IF NOT EXISTS mlops_sweeps (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status_note TEXT
);
"""


def sweeps_db(state_dir: Path) -> Path:
    return Path(state_dir) / SWEEPS_DB


def all_sweeps(conn: sqlite3.Connection) -> list[SweepRecord]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM mlops_sweeps ORDER BY created DESC").fetchall()
    return [SweepRecord.of(r) for r in rows]


@contextmanager
def read_only(state_dir: Path) -> Iterator[sqlite3.Connection | None]:
    """The sweeps file opened read-only; None when no sweep was ever started (no file yet)."""
    path = sweeps_db(state_dir)
    if not path.exists():
        yield None
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def read_sweeps(state_dir: Path) -> list[SweepRecord]:
    """Every sweep, newest first; none when no sweep was ever started."""
    with read_only(state_dir) as conn:
        return all_sweeps(conn) if conn and has_table(conn, "mlops_sweeps") else []


def sweep_base_jobs(state_dir: Path) -> dict[str, str]:
    """Each sweep's base job name, by sweep id: a sweep's route is its base job's."""
    return {r.id: str(r.spec.get("base_job_name") or "") for r in read_sweeps(state_dir)}


def read_views(state_dir: Path) -> list[SweepView]:
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
