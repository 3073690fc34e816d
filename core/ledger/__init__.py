"""The guard ledger shared by the supervisor and the skills (see `store.Ledger`)."""

from core.ledger.records import (
    AuditRow,
    Confirmation,
    Decision,
    GateRefused,
    LedgerError,
    Proposal,
    Turn,
)
from core.ledger.rule import Refusal, decision_refusal
from core.ledger.signing import create_key, load_key
from core.ledger.store import DEFAULT_PROPOSAL_TTL_S, Ledger

__all__ = [
    "AuditRow",
    "Confirmation",
    "DEFAULT_PROPOSAL_TTL_S",
    "Decision",
    "GateRefused",
    "Ledger",
    "LedgerError",
    "Proposal",
    "Refusal",
    "Turn",
    "create_key",
    "decision_refusal",
    "load_key",
]
