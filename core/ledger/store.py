"""The guard ledger: one sqlite file shared by the supervisor and the skills.

The supervisor records turns and people's decisions; skills record proposals
and consume approvals through the gate. Every state change writes its audit
row in the same transaction, so the trail cannot miss a step that happened.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.clock import now
from core.ledger import signing
from core.ledger.audit import AuditTrail
from core.ledger.decisions import record_decision
from core.ledger.gate import check_gate
from core.ledger.records import (
    HOWS,
    TURN_SOURCES,
    AuditRow,
    Confirmation,
    Decision,
    LedgerError,
    Proposal,
    Turn,
)
from core.ledger.tables import SignedTables

DEFAULT_PROPOSAL_TTL_S = 24 * 3600.0


class Ledger:
    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        proposal_ttl_s: float = DEFAULT_PROPOSAL_TTL_S,
        clock: Callable[[], float] = now,  # core.clock: virtual in an eval's skills
    ) -> None:
        self.path = Path(path)
        self._db = SignedTables(self.path, key)
        self._ttl = float(proposal_ttl_s)
        self._clock = clock
        self._trail = AuditTrail(self._db, self._now)

    create_key = staticmethod(signing.create_key)
    load_key = staticmethod(signing.load_key)

    @classmethod
    def from_files(cls, path: Path, key_file: Path, **kwargs: Any) -> Ledger:
        return cls(path, signing.load_key(key_file), **kwargs)

    # -- turns ---------------------------------------------------------------

    def record_turn(self, conversation: str, source: str, sender: str) -> Turn:
        """Start a turn: a fresh 128-bit random id and the conversation's next sequence number."""
        if source not in TURN_SOURCES:
            raise LedgerError(f"unknown turn source {source!r}; valid: {sorted(TURN_SOURCES)}")
        with self._db.write() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM turns WHERE conversation = ?", (conversation,)
            ).fetchone()
            turn = Turn(secrets.token_hex(16), conversation, last + 1, source, sender, self._now())
            self._db.insert(conn, "turns", turn)
        return turn

    def turn(self, turn_id: str) -> Turn | None:
        with self._db.read() as conn:
            return self._db.turn(conn, turn_id)

    # -- proposals -----------------------------------------------------------

    def propose(self, turn_id: str, kind: str, payload: dict[str, Any], summary: str) -> Proposal:
        """Store a gated action for a person to approve in a later turn of the same conversation."""
        with self._db.write() as conn:
            turn = self._db.turn(conn, turn_id)
            if turn is None:
                raise LedgerError(
                    f"unknown turn_id {turn_id!r}: pass the turn_id shown in this turn's header"
                )
            now = self._now()
            proposal = Proposal(
                id="P" + secrets.token_hex(5),
                kind=kind,
                conversation=turn.conversation,
                turn_id=turn_id,
                payload_json=json.dumps(payload, sort_keys=True, ensure_ascii=False),
                summary=summary,
                created=now,
                expires=now + self._ttl,
                status="open",
                outcome=None,
            )
            self._db.insert(conn, "proposals", proposal)
            self._trail.record(
                conn, turn, "agent", "proposal.created", {"proposal": proposal.id, "kind": kind}
            )
        return proposal

    def proposal(self, proposal_id: str) -> Proposal | None:
        with self._db.read() as conn:
            return self._db.proposal(conn, proposal_id)

    def proposals_of_turn(self, turn_id: str) -> list[Proposal]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM proposals WHERE turn_id = ? ORDER BY created, id", (turn_id,)
            ).fetchall()
            return [p for p in (self._db.load(Proposal, "proposals", r) for r in rows) if p]

    def latest_proposing_turn(self, conversation: str) -> list[Proposal]:
        """The proposals (any status) of the conversation's latest turn that made any."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT p.turn_id FROM proposals p JOIN turns t ON t.turn_id = p.turn_id"
                " WHERE p.conversation = ? ORDER BY t.seq DESC",
                (conversation,),
            ).fetchall()
            for (turn_id,) in rows:
                if self._db.turn(conn, turn_id) is not None:
                    break
            else:
                return []
        return self.proposals_of_turn(turn_id)

    def close(self, proposal_id: str, status: str, outcome: str) -> Proposal:
        """Mark an open proposal applied (outcome: the commit) or expired (outcome: why).
        A proposal already closed stays as it is and is returned unchanged."""
        if status not in ("applied", "expired"):
            raise LedgerError(f"close() takes status 'applied' or 'expired', not {status!r}")
        with self._db.write() as conn:
            proposal = self._db.proposal(conn, proposal_id)
            if proposal is None:
                raise LedgerError(f"unknown proposal {proposal_id!r}")
            if proposal.status != "open":
                return proposal  # closed already (e.g. applied by another process): keep that
            closed = replace(proposal, status=status, outcome=outcome)
            self._db.update(conn, "proposals", closed, "id")
            detail = {"proposal": proposal_id, "status": status, "outcome": outcome}
            self._trail.record(
                conn, self._db.turn(conn, proposal.turn_id), "agent", "proposal.closed", detail
            )
        return closed

    # -- people's decisions --------------------------------------------------

    def confirm(self, proposal_id: str, person: str, turn_id: str, how: str) -> Decision:
        """Record an approval. A proposal gets one decision: a double click or a racing
        click returns the decision already recorded, with `recorded=False`."""
        return self._decide(proposal_id, "approve", person, turn_id, how)

    def reject(self, proposal_id: str, person: str, turn_id: str, how: str) -> Decision:
        """Record a rejection and close the proposal; idempotent like `confirm`."""
        return self._decide(proposal_id, "reject", person, turn_id, how)

    def decision_of(self, proposal_id: str) -> Confirmation | None:
        with self._db.read() as conn:
            return self._db.decision(conn, proposal_id)

    def _decide(
        self, proposal_id: str, decision: str, person: str, turn_id: str, how: str
    ) -> Decision:
        if how not in HOWS:
            raise LedgerError(f"unknown confirmation method {how!r}; valid: {sorted(HOWS)}")
        with self._db.write() as conn:
            return record_decision(
                self._db, self._trail, conn, proposal_id, decision, person, turn_id, how, self._now
            )

    # -- the gate ------------------------------------------------------------

    def gate(self, proposal_id: str, turn_id: str, allowed_users: frozenset[str]) -> Confirmation:
        """The approval that lets `turn_id` act on `proposal_id`, or `GateRefused` saying why not.

        Read-only: `mark_used` checks again and consumes the approval right before acting.
        """
        with self._db.read() as conn:
            return self._check(conn, proposal_id, turn_id, allowed_users)

    def mark_used(
        self, proposal_id: str, turn_id: str, allowed_users: frozenset[str]
    ) -> Confirmation:
        """Check the gate and consume the approval in one transaction: of two applies
        racing with one approval, exactly one gets it."""
        with self._db.write() as conn:
            confirmation = self._check(conn, proposal_id, turn_id, allowed_users)
            used = replace(confirmation, used=self._now(), used_turn=turn_id)
            self._db.update(conn, "confirmations", used, "id")
            detail = {"proposal": proposal_id, "confirmed_by": confirmation.person}
            self._trail.record(conn, self._db.turn(conn, turn_id), "agent", "approval.used", detail)
        return used

    def _check(
        self, conn: sqlite3.Connection, proposal_id: str, turn_id: str, allowed: frozenset[str]
    ) -> Confirmation:
        proposal = self._db.proposal(conn, proposal_id)
        decision = self._db.decision(conn, proposal_id)
        return check_gate(
            proposal_id=proposal_id,
            turn_id=turn_id,
            proposal=proposal,
            proposing=self._db.turn(conn, proposal.turn_id) if proposal else None,
            applying=self._db.turn(conn, turn_id),
            decision=decision,
            deciding=self._db.turn(conn, decision.turn_id) if decision else None,
            allowed_users=allowed,
            now=self._now(),
        )

    # -- audit (`audit.AuditTrail`) ----------------------------------------------

    def audit(
        self,
        action: str,
        *,
        actor: str,
        conversation: str | None = None,
        turn_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditRow:
        """Append one audit row. Given only `turn_id`, the conversation is the turn's."""
        return self._trail.append(
            action, actor=actor, conversation=conversation, turn_id=turn_id, detail=detail or {}
        )

    def audit_rows(
        self,
        job: str | None = None,
        conversation: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AuditRow]:
        """Audit rows in order; `job` matches its conversation `job:<name>` and rows naming it."""
        return self._trail.rows(job, conversation, since, until)

    def _now(self) -> float:
        return float(self._clock())
