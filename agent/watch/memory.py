"""What the watcher keeps in the service database, and what it reads from the inbox.

- `watch_reported`: every job name that sent an event, with its latest
  event's time, kept up to date by scanning only the inbox rows added since
  the last pass (a high-water mark), never the whole inbox;
- `watch_following`: the attempts the last pass saw active, or ended and
  still inside the grace period: the next pass asks for them by id, so an
  end is seen even once the scheduler has forgotten the job;
- `watch_marks`: the first and the last pass's times and the inbox scan's
  high-water mark.

The facts themselves are not kept here: an item in the inbox is the record
that a fact was told, and its dedupe key makes telling it twice impossible.
Functions take a sqlite connection and run on the database's thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.watch.facts import EventSeen
from core.sqlite import immediate

SCHEMA = """
CREATE TABLE IF NOT EXISTS watch_reported (
    name          TEXT PRIMARY KEY,
    last_received REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_following (
    job_id TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    seen   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_marks (
    mark  TEXT PRIMARY KEY,  -- first_pass | last_pass | scanned (inbox id)
    value REAL NOT NULL
);
"""
EVENTS_PER_JOB = 65  # enough for the median of its last 64 gaps
PROGRESS_KEYS = ("epoch", "total", "step", "trial")


@dataclass(frozen=True)
class Remembered:
    first_pass: float | None  # when this state dir was first watched: older ends are no news
    last_pass: float | None
    names: list[str]  # jobs that reported in the window
    following: dict[str, str]  # job id -> name


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def remember(conn: sqlite3.Connection, reported_since: float) -> Remembered:
    """Scan the inbox's new events, then read what the next pass needs."""
    _scan_reported(conn)
    marks = dict(conn.execute("SELECT mark, value FROM watch_marks").fetchall())
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM watch_reported WHERE last_received >= ?", (reported_since,)
        )
    ]
    following = dict(conn.execute("SELECT job_id, name FROM watch_following").fetchall())
    return Remembered(marks.get("first_pass"), marks.get("last_pass"), names, following)


def _scan_reported(conn: sqlite3.Connection) -> None:
    (scanned,) = conn.execute(
        "SELECT COALESCE((SELECT value FROM watch_marks WHERE mark = 'scanned'), 0)"
    ).fetchone()
    (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM inbox").fetchone()
    if top <= scanned:
        return
    rows = conn.execute(
        "SELECT id, json_extract(payload, '$.job'), received FROM inbox"
        " WHERE id > ? AND id <= ? AND kind = 'event'",
        (int(scanned), top),
    ).fetchall()
    with immediate(conn):
        conn.executemany(
            "INSERT INTO watch_reported (name, last_received) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET"
            " last_received = MAX(last_received, excluded.last_received)",
            [(job, received) for _, job, received in rows if isinstance(job, str)],
        )
        _set_mark(conn, "scanned", top)


def events_of(
    conn: sqlite3.Connection, jobs: Iterable[tuple[str, str]]
) -> dict[str, list[EventSeen]]:
    """The latest events of each (conversation, job name), oldest first, by job name."""
    found: dict[str, list[EventSeen]] = {}
    for conversation, name in jobs:
        rows = conn.execute(
            "SELECT id, payload, received FROM inbox WHERE conversation = ? AND kind = 'event'"
            " AND json_extract(payload, '$.job') = ? ORDER BY id DESC LIMIT ?",
            (conversation, name, EVENTS_PER_JOB),
        ).fetchall()
        found[name] = [_event(*row) for row in reversed(rows)]
    return found


def told(conn: sqlite3.Connection, keys: Sequence[str]) -> set[str]:
    """Which of these inbox dedupe keys are already there (read only: no write per pass)."""
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        marks = ",".join("?" * len(chunk))
        known.update(
            r[0]
            for r in conn.execute(
                f"SELECT dedupe_key FROM inbox WHERE dedupe_key IN ({marks})", chunk
            )
        )
    return known


def save_pass(conn: sqlite3.Connection, now: float, following: dict[str, str]) -> None:
    with immediate(conn):
        conn.execute("DELETE FROM watch_following")
        conn.executemany(
            "INSERT INTO watch_following (job_id, name, seen) VALUES (?, ?, ?)",
            [(job_id, name, now) for job_id, name in following.items()],
        )
        _set_mark(conn, "last_pass", now)
        conn.execute(
            "INSERT INTO watch_marks (mark, value) VALUES ('first_pass', ?)"
            " ON CONFLICT (mark) DO NOTHING",
            (now,),
        )


def _set_mark(conn: sqlite3.Connection, mark: str, value: float) -> None:
    conn.execute(
        "INSERT INTO watch_marks (mark, value) VALUES (?, ?)"
        " ON CONFLICT (mark) DO UPDATE SET value = excluded.value",
        (mark, value),
    )


def _event(item_id: int, payload: str, received: float) -> EventSeen:
    event = json.loads(payload)
    attempt = event.get("attempt")
    owner = event.get("owner")
    progress = " ".join(
        f"{k}={event[k]}" for k in PROGRESS_KEYS if isinstance(event.get(k), int | float | str)
    )
    return EventSeen(
        item_id,
        str(event.get("type", "")),
        received,
        attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
        owner if isinstance(owner, str) and owner else None,
        progress,
    )
