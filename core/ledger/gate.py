"""The write gate's rule, as one pure function over verified ledger records.

Every refusal names what the model should do next; none of them can be talked
around, because the records come from the ledger (MAC-verified) and the turn
ids from the supervisor, never from what the model says.
"""

from __future__ import annotations

from core.ledger.records import Confirmation, GateRefused, Proposal, Turn
from core.ledger.rule import Refusal, decision_refusal


def check_gate(
    *,
    proposal_id: str,
    turn_id: str,
    proposal: Proposal | None,
    proposing: Turn | None,
    applying: Turn | None,
    decision: Confirmation | None,
    deciding: Turn | None,
    allowed_users: frozenset[str],
    now: float,
) -> Confirmation:
    """Return the confirmation that lets turn `applying` act on `proposal`, or raise GateRefused.

    Holds only if: the applying turn is a later turn of the proposal's own
    conversation; an allowed person approved that very proposal in a turn of
    the same conversation after the proposal's and not after the applying one;
    the approval is unused; the proposal is open and unexpired.
    """
    if applying is None:
        raise GateRefused(
            f"unknown turn_id {turn_id!r}: pass the turn_id shown in this turn's header"
        )
    if proposal is None or proposing is None:
        raise GateRefused(f"unknown proposal {proposal_id!r}: check the id the proposal returned")
    # Applying, like deciding, only in a later turn of the proposal's own conversation.
    where = decision_refusal(proposal, applying.sender, proposing=proposing, deciding=applying)
    if where is Refusal.ELSEWHERE:
        raise GateRefused(
            f"proposal {proposal_id} belongs to another conversation; "
            "it can only be applied from the conversation that proposed it"
        )
    if where is Refusal.TOO_EARLY:
        raise GateRefused(
            f"proposal {proposal_id} was made in this turn: end your turn and wait for a "
            "human to approve it; apply it only in the turn that tells you it was approved"
        )
    if proposal.status == "applied":
        raise GateRefused(f"proposal {proposal_id} is already applied ({proposal.outcome})")
    if proposal.status == "rejected" or (decision and decision.decision == "reject"):
        who = decision.person if decision else "a person"
        raise GateRefused(f"proposal {proposal_id} was rejected by {who}: do not apply it")
    if proposal.status != "open" or now > proposal.expires:
        why = f" ({proposal.outcome})" if proposal.outcome else ""
        raise GateRefused(
            f"proposal {proposal_id} has expired{why}: propose the change again if still needed"
        )
    if decision is None:
        raise GateRefused(
            f"no confirmation from an allowed person yet: end your turn and wait for a "
            f"human to approve proposal {proposal_id}"
        )
    # The recorded approval, asked the one rule again: by whom, where and when it was given.
    refusal = decision_refusal(
        proposal, decision.person, deciders=allowed_users, proposing=proposing, deciding=deciding
    )
    if refusal is Refusal.NOT_A_DECIDER:
        raise GateRefused(
            f"proposal {proposal_id} was approved by {decision.person}, who may not approve "
            "writes: end your turn and wait for an allowed person to approve it"
        )
    if deciding is None or refusal is not None or deciding.seq > applying.seq:
        raise GateRefused(
            f"the approval of proposal {proposal_id} was not given in this conversation "
            "between the proposal and now: wait for a human to approve it here"
        )
    if decision.used is not None:
        raise GateRefused(
            f"the approval of proposal {proposal_id} was already used (turn {decision.used_turn}); "
            "a new change needs a new proposal and a new approval"
        )
    return decision
