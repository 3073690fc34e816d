"""The Slurm backend's index: what Slurm does not keep, in `<state_dir>/aiqu/slurm.sqlite`.

Keyed by the Slurm job id: name, attempt, labels, the spec (for requeue) and the
log path of every submission through aiqu; the final state is stored the first
time it is seen (Slurm forgets a job `MinJobAge` seconds after it ends). Each
read or write opens its own connection: several processes share the file, and a
write takes `BEGIN IMMEDIATE`, so two submissions of a name never get the same attempt.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.sqlite import connect, create, writing

from .slurm_json import JobRecord

Rows = list[sqlite3.Row]

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,  -- the Slurm job id
    name TEXT NOT NULL, attempt INTEGER NOT NULL, labels TEXT NOT NULL, spec TEXT NOT NULL,
    log_path TEXT NOT NULL, submitted_at REAL NOT NULL,
    final TEXT  -- JSON of the last state once the job ended
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs(name);
"""


class SlurmIndex:
    def __init__(self, path: Path) -> None:
        self._path = path
        create(path, SCHEMA, synchronous="NORMAL")

    def _connect(self) -> sqlite3.Connection:
        return connect(self._path, synchronous="NORMAL")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with writing(self._path, synchronous="NORMAL") as conn:
            yield conn

    def rows(self, tail: str, params: tuple[Any, ...] = ()) -> Rows:
        conn = self._connect()
        try:
            return conn.execute(f"SELECT * FROM jobs {tail}", params).fetchall()
        finally:
            conn.close()

    def rows_of(self, job_ids: Collection[str]) -> Rows:
        ids = sorted(int(i) for i in job_ids)
        found: Rows = []
        for start in range(0, len(ids), 500):  # well under sqlite's limit of variables
            chunk = ids[start : start + 500]
            found += self.rows(f"WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk))
        return found

    def row(self, job_id: int) -> sqlite3.Row | None:
        rows = self.rows("WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def store_final(self, row_id: int, seen: JobRecord) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE jobs SET final = ? WHERE id = ?", (json.dumps(asdict(seen)), row_id)
            )
