"""The list of sweeps, as the supervisor's schedule reads it (read-only).

The aiqu skill keeps one small table beside Optuna's own in
`<state_dir>/aiqu/sweeps.db`: each sweep's spec and status. The table's shape
lives here, so the skill that writes it and the schedule that reads it (to
tick active sweeps and list them in the digest) share one definition, and the
supervisor never loads Optuna or the skill.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class SweepRecord:
    id: str
    spec: dict[str, Any]
    status: str
    created: float
    updated: float
    status_note: str | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> SweepRecord:
        return cls(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5])


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


def base_jobs(state_dir: Path) -> dict[str, str]:
    """Each sweep's base job name, by sweep id: a sweep's route is its base job's."""
    return {r.id: str(r.spec.get("base_job_name") or "") for r in read_sweeps(state_dir)}
