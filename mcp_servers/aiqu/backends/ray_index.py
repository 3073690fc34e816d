"""What the Ray backend remembers of the jobs it submitted: `<state_dir>/aiqu/ray.sqlite`.

Ray knows nothing of logical names, attempts or who submitted a job, does not
say when a job left its queue, and forgets every job when its head restarts
(or when someone deletes a job). So each submission is recorded here, keyed by
the submission id aiqu chose: name, attempt, labels, the spec (for requeue);
when it was last seen waiting and from when it can have been running; its
final record once seen. The stops aiqu asked for (a cancel, a time limit) are
kept too, also for jobs it did not submit, because Ray's STOPPED does not say why.
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

from .base import JobSpec
from .ray_records import RayRecord

Rows = list[sqlite3.Row]
CANCEL = "cancel"
TIMEOUT = "timeout"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,  -- the Ray submission id
    name TEXT NOT NULL, attempt INTEGER NOT NULL, labels TEXT NOT NULL, spec TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    pending_seen_at REAL,  -- the last time Ray said it was waiting
    running_at REAL,  -- the earliest moment it can have started
    final TEXT  -- JSON of its RayRecord once it ended
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs(name);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(id) WHERE final IS NULL;
CREATE TABLE IF NOT EXISTS stops (
    id TEXT PRIMARY KEY, reason TEXT NOT NULL, sent_at REAL NOT NULL
);
"""


class RayIndex:
    def __init__(self, state_dir: Path) -> None:
        self._path = Path(state_dir).resolve() / "aiqu" / "ray.sqlite"
        create(self._path, SCHEMA, synchronous="NORMAL")

    # -- reads -------------------------------------------------------------------

    def rows(self, tail: str = "", params: tuple[Any, ...] = ()) -> Rows:
        conn = self._connect()
        try:
            return conn.execute(f"SELECT * FROM jobs {tail}", params).fetchall()
        finally:
            conn.close()

    def row(self, job_id: str) -> sqlite3.Row | None:
        found = self.rows("WHERE id = ?", (job_id,))
        return found[0] if found else None

    def rows_of(self, job_ids: Collection[str]) -> Rows:
        ids = sorted(job_ids)
        found: Rows = []
        for start in range(0, len(ids), 500):  # well under sqlite's limit of variables
            chunk = ids[start : start + 500]
            found += self.rows(f"WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk))
        return found

    def stops(self, job_id: str | None = None) -> dict[str, tuple[str, float]]:
        """Why aiqu asked Ray to stop jobs (all of them, or only `job_id`), and when."""
        conn = self._connect()
        try:
            if job_id is None:
                rows = conn.execute("SELECT * FROM stops").fetchall()
            else:
                rows = conn.execute("SELECT * FROM stops WHERE id = ?", (job_id,)).fetchall()
        finally:
            conn.close()
        return {r["id"]: (r["reason"], r["sent_at"]) for r in rows}

    # -- writes ------------------------------------------------------------------

    @contextmanager
    def submitting(self, name: str) -> Iterator[tuple[int, sqlite3.Connection]]:
        """The next attempt under `name`, inside one write transaction: two submissions of
        a name never get the same attempt, and a failed submission records nothing."""
        with self._write() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM jobs WHERE name = ?", (name,)
            ).fetchone()
            yield last + 1, conn

    @staticmethod
    def add(conn: sqlite3.Connection, job_id: str, spec: JobSpec, attempt: int, at: float) -> None:
        conn.execute(
            "INSERT INTO jobs (id, name, attempt, labels, spec, submitted_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (job_id, spec.name, attempt, json.dumps(spec.labels), json.dumps(asdict(spec)), at),
        )

    def stopping(self, job_id: str, reason: str, at: float) -> None:
        """Remember why aiqu asked Ray to stop this job (the first reason stands)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO stops VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET sent_at ="
                " excluded.sent_at",
                (job_id, reason, at),
            )

    def observe(self, seen: list[tuple[sqlite3.Row, RayRecord]], now: float) -> None:
        """Keep what Ray said of unfinished jobs of ours: when they were last seen waiting,
        from when they can have run, and how they ended. One transaction, only for changes."""
        updates: list[tuple[str, tuple[Any, ...]]] = []
        for row, record in seen:
            if row["final"]:
                continue
            if record.status == "PENDING":
                updates.append(("pending_seen_at = ?", (now, row["id"])))
                continue
            if row["running_at"] is None and _ran(record):
                # Ray does not say when a job left its queue: the last moment it was seen
                # waiting is the earliest it can have started (the time limit's bound).
                started = row["pending_seen_at"] or row["submitted_at"]
                updates.append(("running_at = ?", (started, row["id"])))
            if record.state.active:
                continue
            updates.append(("final = ?", (json.dumps(record.to_store()), row["id"])))
        if not updates:
            return
        with self._write() as conn:
            for assignment, params in updates:
                conn.execute(f"UPDATE jobs SET {assignment} WHERE id = ?", params)

    # -- plumbing ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return connect(self._path, synchronous="NORMAL")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with writing(self._path, synchronous="NORMAL") as conn:
            yield conn


def _ran(record: RayRecord) -> bool:
    """Whether the job's command was seen started (Ray sets an exit code only for those; a
    job stopped before anyone saw it run has neither)."""
    return record.status == "RUNNING" or record.exit_code is not None
