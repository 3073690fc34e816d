"""sqlite conventions shared by the service and the skills.

Every store here is several processes writing one file: WAL (readers never
block the writer), autocommit mode with explicit transactions, and writes
that take the lock up front so a check-then-write cannot interleave with
another writer's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path | str, *, synchronous: str = "FULL", **kwargs: object) -> sqlite3.Connection:
    """A WAL connection in autocommit mode with `sqlite3.Row` rows."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, **kwargs)  # type: ignore[call-overload]
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK when the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def create(path: Path, schema: str, *, synchronous: str = "FULL") -> None:
    """The file (and its folder) with `schema`'s tables, made once by whoever opens it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path, synchronous=synchronous)
    try:
        conn.executescript(schema)
    finally:
        conn.close()


@contextmanager
def writing(path: Path, *, synchronous: str = "FULL") -> Iterator[sqlite3.Connection]:
    """A connection of its own holding the write lock for the block (`immediate`): a
    check-then-write inside it cannot interleave with another writer's."""
    conn = connect(path, synchronous=synchronous)
    try:
        with immediate(conn):
            yield conn
    finally:
        conn.close()
