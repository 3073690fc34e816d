"""What the guard ledger stores, and the errors it raises.

Records are plain frozen dataclasses. Each one is read back only when its
HMAC verifies (see `signing`); the `FIELDS` tuples fix which columns the MAC
covers and in which order, so adding a column never silently leaves it unsigned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

TurnSource = Literal["event", "chat", "click", "tick"]
ProposalKind = str  # declared by the skill that proposes it (`mcp_servers.plugin`)
ProposalStatus = Literal["open", "applied", "rejected", "expired"]
DecisionKind = Literal["approve", "reject"]
How = Literal["button", "text"]

TURN_SOURCES: frozenset[str] = frozenset({"event", "chat", "click", "tick"})
HOWS: frozenset[str] = frozenset({"button", "text"})


class LedgerError(Exception):
    """A ledger call was invalid; the message says what would be valid."""


class GateRefused(LedgerError):
    """A gated action may not run; the message tells the model what to do instead."""


@dataclass(frozen=True)
class Turn:
    turn_id: str
    conversation: str
    seq: int
    source: str
    sender: str
    created: float

    FIELDS = ("turn_id", "conversation", "seq", "source", "sender", "created")


@dataclass(frozen=True)
class Proposal:
    id: str
    kind: str
    conversation: str
    turn_id: str
    payload_json: str
    summary: str
    created: float
    expires: float
    status: str
    # What closed it: the applied commit, the base-moved note, ...
    outcome: str | None

    FIELDS = (
        "id",
        "kind",
        "conversation",
        "turn_id",
        "payload_json",
        "summary",
        "created",
        "expires",
        "status",
        "outcome",
    )

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload_json)
        return value


@dataclass(frozen=True)
class Confirmation:
    """A person's decision on one proposal: an approval (a confirmation proper) or a rejection."""

    id: int
    proposal_id: str
    decision: str
    person: str
    turn_id: str
    how: str
    created: float
    used: float | None  # when an apply consumed it
    used_turn: str | None

    FIELDS = (
        "id",
        "proposal_id",
        "decision",
        "person",
        "turn_id",
        "how",
        "created",
        "used",
        "used_turn",
    )


@dataclass(frozen=True)
class Decision:
    """What `confirm`/`reject` did: `recorded` is False when a decision already existed
    (a double click, a race, or the other button first); `record` is the decision in force."""

    recorded: bool
    record: Confirmation

    @property
    def message(self) -> str:
        verb = "approved" if self.record.decision == "approve" else "rejected"
        if self.recorded:
            return f"proposal {self.record.proposal_id} {verb} by {self.record.person}"
        return f"proposal {self.record.proposal_id} was already {verb} by {self.record.person}"


@dataclass(frozen=True)
class AuditRow:
    id: int
    ts: float
    conversation: str | None
    turn_id: str | None
    actor: str
    action: str
    detail_json: str
    verified: bool = True  # False: the row's MAC does not match (edited outside the service)

    FIELDS = ("id", "ts", "conversation", "turn_id", "actor", "action", "detail_json")

    @property
    def detail(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.detail_json)
        return value
