"""The one approval rule: may this person decide this proposal now?

A person may decide (approve or reject) a proposal only if they are one of its
deciders (`core.approvers.deciders`: an approver of every route it involves),
in a turn of the proposal's own conversation that comes after the proposal's,
while the proposal is open and unexpired. Every surface asks this one
function with what it knows at its moment, and words the answer its own way:

- the web page's Approve/Reject, before there is a turn: who;
- the approvals step, before it records a click or a yes: who;
- the ledger, when it records a decision: where and when (who was asked by
  the approvals step just before, and the gate asks again);
- the write gate, at apply time, about the recorded decision: who, where and when.
"""

from __future__ import annotations

from collections.abc import Container
from enum import Enum

from core.ledger.records import Proposal, Turn


class Refusal(Enum):
    """Why a person may not decide a proposal now (each surface has its own words)."""

    NOT_A_DECIDER = "not one of the proposal's deciders"
    ELSEWHERE = "not in the proposal's conversation"
    TOO_EARLY = "not in a later turn than the proposal's"
    CLOSED = "the proposal is no longer open, or expired"


def decision_refusal(
    proposal: Proposal,
    person: str,
    *,
    deciders: Container[str] | None = None,
    proposing: Turn | None = None,
    deciding: Turn | None = None,
    now: float | None = None,
) -> Refusal | None:
    """Why `person` may not decide `proposal` (None: they may), checked in this order.

    `deciders`: who may decide it; `proposing`/`deciding`: the proposal's turn and the
    turn the decision is (or was) made in; `now`: the time it is made. What a caller
    leaves out is not known at its moment and is checked by the next surface.
    """
    if deciders is not None and person not in deciders:
        return Refusal.NOT_A_DECIDER
    if proposing is not None and deciding is not None:
        if deciding.conversation != proposal.conversation:
            return Refusal.ELSEWHERE
        if deciding.seq <= proposing.seq:
            return Refusal.TOO_EARLY
    if now is not None and (proposal.status != "open" or now > proposal.expires):
        return Refusal.CLOSED
    return None
