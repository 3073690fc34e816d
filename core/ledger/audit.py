"""The audit trail: one row per step, written in the transaction of the change it records
(so the trail cannot miss a step that happened), read back with each row's MAC verified."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from core.ledger.records import AuditRow, Turn
from core.ledger.tables import SignedTables


class AuditTrail:
    def __init__(self, db: SignedTables, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        conn: sqlite3.Connection,
        turn: Turn | None,
        actor: str,
        action: str,
        detail: dict[str, Any],
    ) -> None:
        """A row for a change made in `conn`'s transaction, in `turn`'s conversation."""
        conversation, turn_id = (turn.conversation, turn.turn_id) if turn else (None, None)
        self._db.append_audit(conn, self._now(), conversation, turn_id, actor, action, detail)

    def append(
        self,
        action: str,
        *,
        actor: str,
        conversation: str | None,
        turn_id: str | None,
        detail: dict[str, Any],
    ) -> AuditRow:
        """A row on its own; given only `turn_id`, the conversation is the turn's."""
        with self._db.write() as conn:
            if conversation is None and turn_id is not None:
                turn = self._db.turn(conn, turn_id)
                conversation = turn.conversation if turn else None
            return self._db.append_audit(
                conn, self._now(), conversation, turn_id, actor, action, detail
            )

    def rows(
        self,
        job: str | None,
        conversation: str | None,
        since: float | None,
        until: float | None,
    ) -> list[AuditRow]:
        """Rows in order; `job` matches its conversation `job:<name>` and rows naming it."""
        where: list[str] = []
        args: list[object] = []
        if job is not None:
            where.append("(conversation = ? OR json_extract(detail_json, '$.job') = ?)")
            args += [f"job:{job}", job]
        if conversation is not None:
            where.append("conversation = ?")
            args.append(conversation)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if until is not None:
            where.append("ts <= ?")
            args.append(until)
        return self._db.audit_rows(where, args)

    def _now(self) -> float:
        return float(self._clock())
