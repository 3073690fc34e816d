"""What the service recorded, read from its own database (`turns` and `inbox` rows).

Read-only, with a connection of our own: the service keeps writing through
its own. The harness waits for a step to settle by watching these rows, not
by timing anything.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any


class ServiceRecords:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "service.sqlite"
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            self._conn.row_factory = sqlite3.Row
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def last_turn(self) -> int:
        row = self._db().execute("SELECT COALESCE(MAX(rowid), 0) FROM turns").fetchone()
        return int(row[0])

    def turns_after(self, rowid: int) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT rowid AS n, * FROM turns WHERE rowid > ? ORDER BY rowid", (rowid,)
        )
        return [dict(r) for r in rows]

    def busy(self) -> tuple[int, int]:
        """(inbox items not done, turns not ended)."""
        db = self._db()
        waiting = db.execute("SELECT count(*) FROM inbox WHERE state != 'done'").fetchone()[0]
        running = db.execute("SELECT count(*) FROM turns WHERE ended IS NULL").fetchone()[0]
        return int(waiting), int(running)

    async def settled(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        """Wait until nothing waits in the inbox and no turn runs; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.busy() != (0, 0):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(poll_s)
        return True
