"""Recording a person's decision on a proposal: by the one approval rule (`rule`), once.

A proposal gets one decision: a double click or a racing click returns the decision
already recorded. Who may decide was asked by the approvals step just before (and the
gate asks again at apply time); here the rule is asked where and when.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace

from core.ledger.audit import AuditTrail
from core.ledger.records import Confirmation, Decision, LedgerError
from core.ledger.rule import Refusal, decision_refusal
from core.ledger.tables import SignedTables


def record_decision(
    db: SignedTables,
    trail: AuditTrail,
    conn: sqlite3.Connection,
    proposal_id: str,
    decision: str,
    person: str,
    turn_id: str,
    how: str,
    now: Callable[[], float],
) -> Decision:
    """Record `person`'s `decision` ("approve" or "reject") made in `turn_id`, in `conn`'s
    transaction, with its audit row; LedgerError when the rule refuses it."""
    proposal = db.proposal(conn, proposal_id)
    if proposal is None:
        raise LedgerError(f"unknown proposal {proposal_id!r}")
    turn = db.turn(conn, turn_id)
    proposing = db.turn(conn, proposal.turn_id)
    if turn is None or proposing is None:
        raise LedgerError(f"unknown turn_id {turn_id!r}")
    refusal = decision_refusal(proposal, person, proposing=proposing, deciding=turn, now=now())
    if refusal is Refusal.ELSEWHERE:
        raise LedgerError(
            f"proposal {proposal_id} belongs to another conversation; "
            "a decision must be made in the conversation that proposed it"
        )
    if refusal is Refusal.TOO_EARLY:
        raise LedgerError(
            f"a decision on proposal {proposal_id} must come in a later turn than its own"
        )
    # A double click or a racing click gets the decision already in force, whatever
    # has happened to the proposal since.
    existing = db.decision(conn, proposal_id)
    if existing is not None:
        return Decision(recorded=False, record=existing)
    if refusal is Refusal.CLOSED:
        state = "expired" if proposal.status == "open" else proposal.status
        raise LedgerError(f"proposal {proposal_id} is {state}; nothing to decide")
    record = Confirmation(
        db.next_id(conn, "confirmations"),
        proposal_id,
        decision,
        person,
        turn_id,
        how,
        now(),
        None,
        None,
    )
    db.insert(conn, "confirmations", record)
    if decision == "reject":
        db.update(conn, "proposals", replace(proposal, status="rejected"), "id")
    detail = {"proposal": proposal_id, "how": how}
    trail.record(conn, turn, person, f"proposal.{decision}d", detail)
    return Decision(recorded=True, record=record)
