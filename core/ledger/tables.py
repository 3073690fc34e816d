"""The ledger's sqlite tables and the MAC on every row.

Reads come back only as verified records: a row whose MAC does not match was
edited outside the service and is returned as absent (audit rows are the one
exception: they come back flagged, so an edited trail shows as edited).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, replace
from pathlib import Path
from typing import Any, TypeVar

from core.ledger import signing
from core.ledger.records import AuditRow, Confirmation, Proposal, Turn
from core.sqlite import connect, create, writing

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    turn_id TEXT PRIMARY KEY, conversation TEXT NOT NULL, seq INTEGER NOT NULL,
    source TEXT NOT NULL, sender TEXT NOT NULL, created REAL NOT NULL, mac TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns (conversation, seq);
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, conversation TEXT NOT NULL, turn_id TEXT NOT NULL,
    payload_json TEXT NOT NULL, summary TEXT NOT NULL, created REAL NOT NULL,
    expires REAL NOT NULL, status TEXT NOT NULL, outcome TEXT, mac TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS proposals_turn ON proposals (turn_id);
CREATE TABLE IF NOT EXISTS confirmations (
    id INTEGER PRIMARY KEY, proposal_id TEXT NOT NULL, decision TEXT NOT NULL,
    person TEXT NOT NULL, turn_id TEXT NOT NULL, how TEXT NOT NULL, created REAL NOT NULL,
    used REAL, used_turn TEXT, mac TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS confirmations_proposal ON confirmations (proposal_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, conversation TEXT, turn_id TEXT,
    actor TEXT NOT NULL, action TEXT NOT NULL, detail_json TEXT NOT NULL, mac TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
"""

R = TypeVar("R", Turn, Proposal, Confirmation)


class SignedTables:
    def __init__(self, path: Path, key: bytes) -> None:
        if len(key) != signing.KEY_BYTES:
            raise ValueError(f"ledger key must be {signing.KEY_BYTES} bytes, not {len(key)}")
        self.path = path
        self._key = key
        create(path, SCHEMA)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for every row a check reads
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction that holds the write lock from its first statement."""
        with writing(self.path) as conn:
            yield conn

    def turn(self, conn: sqlite3.Connection, turn_id: str) -> Turn | None:
        row = conn.execute("SELECT * FROM turns WHERE turn_id = ?", (turn_id,)).fetchone()
        return self.load(Turn, "turns", row)

    def proposal(self, conn: sqlite3.Connection, proposal_id: str) -> Proposal | None:
        row = conn.execute("SELECT * FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
        return self.load(Proposal, "proposals", row)

    def decision(self, conn: sqlite3.Connection, proposal_id: str) -> Confirmation | None:
        """The first verified decision on a proposal (writers record at most one)."""
        rows = conn.execute(
            "SELECT * FROM confirmations WHERE proposal_id = ? ORDER BY id", (proposal_id,)
        ).fetchall()
        for row in rows:
            record = self.load(Confirmation, "confirmations", row)
            if record is not None:
                return record
        return None

    def next_id(self, conn: sqlite3.Connection, table: str) -> int:
        # Ids are part of the MAC, so they are chosen before the insert (under the write lock).
        (last,) = conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
        return int(last) + 1

    def load(self, cls: type[R], table: str, row: sqlite3.Row | None) -> R | None:
        if row is None:
            return None
        record = cls(*(row[f] for f in cls.FIELDS))
        if not signing.verify(self._key, table, astuple(record), row["mac"]):
            return None  # edited outside the service: as if it were not there
        return record

    def insert(self, conn: sqlite3.Connection, table: str, record: Any) -> None:
        values = astuple(record)
        columns = ", ".join((*record.FIELDS, "mac"))
        marks = ", ".join("?" * (len(values) + 1))
        conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
            (*values, signing.mac(self._key, table, values)),
        )

    def update(self, conn: sqlite3.Connection, table: str, record: Any, key_field: str) -> None:
        values = astuple(record)
        sets = ", ".join(f"{f} = ?" for f in (*record.FIELDS, "mac"))
        conn.execute(
            f"UPDATE {table} SET {sets} WHERE {key_field} = ?",
            (*values, signing.mac(self._key, table, values), getattr(record, key_field)),
        )

    def append_audit(
        self,
        conn: sqlite3.Connection,
        ts: float,
        conversation: str | None,
        turn_id: str | None,
        actor: str,
        action: str,
        detail: dict[str, Any],
    ) -> AuditRow:
        detail_json = json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
        row = AuditRow(
            self.next_id(conn, "audit"), ts, conversation, turn_id, actor, action, detail_json
        )
        values = astuple(row)[: len(AuditRow.FIELDS)]
        conn.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, signing.mac(self._key, "audit", values)),
        )
        return row

    def audit_rows(self, where: list[str], args: list[object]) -> list[AuditRow]:
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
        with self.read() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        out = []
        for row in rows:
            record = AuditRow(*(row[f] for f in AuditRow.FIELDS))
            values = astuple(record)[: len(AuditRow.FIELDS)]
            out.append(
                replace(record, verified=signing.verify(self._key, "audit", values, row["mac"]))
            )
        return out

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)
