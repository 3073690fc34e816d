"""The local backend's state: one sqlite file (WAL) under `<state_dir>/aiqu/`.

Several processes may share a state dir (the skill, `mlops-agent doctor`, a
second skill instance); every change happens inside `BEGIN IMMEDIATE`, which
serialises writers across processes.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
from pathlib import Path

from core import sqlite

from .base import Job, JobSpec, JobState

LOCAL_QUEUE = "local"
CANCEL = "cancel"  # stop_reason of a cancel; "cancel by <who>" when the canceller is known

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    raw_state TEXT NOT NULL,
    reason TEXT,
    gpus INTEGER NOT NULL,
    spec TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    pid INTEGER,
    pid_start INTEGER,
    gpu_ids TEXT,
    stop_reason TEXT,
    stop_sent_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs(name);
"""


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: transactions are opened explicitly by write_tx().
    conn = sqlite.connect(path, synchronous="NORMAL", check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


write_tx = sqlite.immediate


def spec_to_json(spec: JobSpec) -> str:
    return json.dumps(dataclasses.asdict(spec), sort_keys=True)


def spec_from_json(text: str) -> JobSpec:
    return JobSpec(**json.loads(text))


def row_to_job(row: sqlite3.Row) -> Job:
    spec = spec_from_json(row["spec"])
    return Job(
        id=str(row["id"]),
        name=row["name"],
        attempt=row["attempt"],
        state=JobState(row["state"]),
        raw_state=row["raw_state"],
        reason=row["reason"],
        gpus=row["gpus"],
        queue=LOCAL_QUEUE,
        labels=dict(spec.labels),
        submitted_at=row["submitted_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        exit_code=row["exit_code"],
        spec=spec,
    )


def update(conn: sqlite3.Connection, job_id: int, **values: object) -> None:
    columns = ", ".join(f"{key} = ?" for key in values)
    conn.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*values.values(), job_id))


def is_cancel(stop_reason: str | None) -> bool:
    return (stop_reason or "").startswith(CANCEL)


def cancelled(stop_reason: str) -> str:
    """The reason a cancel leaves: `cancelled`, or `cancelled by bob`."""
    return "cancelled" + stop_reason.removeprefix(CANCEL)


def outcome(row: sqlite3.Row, code: int | None) -> tuple[str, str, str | None]:
    """(state, raw_state, reason) of a job whose process has ended."""
    if is_cancel(row["stop_reason"]):
        return "cancelled", "cancelled", cancelled(row["stop_reason"])
    if row["stop_reason"] == "timeout":
        limit = spec_from_json(row["spec"]).time_limit_min
        return "failed", "timeout", f"time limit of {limit} min reached"
    if code is None:
        return (
            "failed",
            "vanished",
            (
                f"process vanished without an exit code (pid {row['pid']}): killed from outside"
                " this scheduler, or the machine restarted"
            ),
        )
    if code == 0:
        return "succeeded", "exited", None
    if code < 0:
        return "failed", "killed", f"killed by signal {signal.Signals(-code).name}"
    return "failed", "exited", f"exit code {code}"
