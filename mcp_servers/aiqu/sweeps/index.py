"""The sweeps table's writer side (its shape and the read-only readers are `table`).

Optuna keeps trials, parameters and values; this table keeps what Optuna has
no place for — the sweep's spec (base job, limits) and its status (active,
paused, stopped, finished).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .table import COLUMNS, SCHEMA, STATUSES, SweepRecord, all_sweeps, sweeps_db

__all__ = ["SweepRecord", "all_sweeps", "connect", "get", "insert", "set_status", "sweeps_db"]


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
    row = conn.execute(f"SELECT {COLUMNS} FROM mlops_sweeps WHERE id = ?", (sweep_id,)).fetchone()
    return SweepRecord.of(row) if row else None


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
