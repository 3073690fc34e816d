"""The list of sweeps: one small table beside Optuna's own in `<state_dir>/aiqu/sweeps.db`.

Optuna keeps trials, parameters and values; this table keeps what Optuna has
no place for — the sweep's spec (base job, limits) and its status (active,
paused, stopped, finished). It imports nothing of Optuna, so the supervisor's
scheduler can read which sweeps to tick without loading it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SWEEPS_DB = Path("aiqu") / "sweeps.db"  # relative to the state dir
STATUSES = ("active", "paused", "stopped", "finished")

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


def sweeps_db(state_dir: Path) -> Path:
    return Path(state_dir) / SWEEPS_DB


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


def insert(conn: sqlite3.Connection, sweep_id: str, spec: dict[str, Any], now: float) -> bool:
    """False when a sweep with this id exists already (nothing changes)."""
    cur = conn.execute(
        "INSERT INTO mlops_sweeps (id, spec, status, created, updated)"
        " VALUES (?, ?, 'active', ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (sweep_id, json.dumps(spec, sort_keys=True), now, now),
    )
    return cur.rowcount == 1


def get(conn: sqlite3.Connection, sweep_id: str) -> SweepRecord | None:
    row = conn.execute(
        "SELECT id, spec, status, created, updated, status_note FROM mlops_sweeps WHERE id = ?",
        (sweep_id,),
    ).fetchone()
    return _record(row) if row else None


def set_status(
    conn: sqlite3.Connection, sweep_id: str, status: str, now: float, note: str | None = None
) -> None:
    assert status in STATUSES, status
    conn.execute(
        "UPDATE mlops_sweeps SET status = ?, updated = ?, status_note = ? WHERE id = ?",
        (status, now, note, sweep_id),
    )


def touch(conn: sqlite3.Connection, sweep_id: str, now: float) -> None:
    conn.execute("UPDATE mlops_sweeps SET updated = ? WHERE id = ?", (now, sweep_id))


def all_sweeps(conn: sqlite3.Connection) -> list[SweepRecord]:
    rows = conn.execute(
        "SELECT id, spec, status, created, updated, status_note FROM mlops_sweeps"
        " ORDER BY created DESC"
    ).fetchall()
    return [_record(r) for r in rows]


def read_sweeps(state_dir: Path) -> list[SweepRecord]:
    """Every sweep, newest first; none when no sweep was ever started (no file yet)."""
    path = sweeps_db(state_dir)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mlops_sweeps'"
        ).fetchone()
        return all_sweeps(conn) if has_table else []
    finally:
        conn.close()


def _record(row: tuple[Any, ...]) -> SweepRecord:
    return SweepRecord(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5])
