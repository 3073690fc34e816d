"""Approvals before a turn: only an allowlisted person's click or explicit yes decides,
and only on the proposals it names, in this turn."""

from __future__ import annotations

from agent.engine.inbox import Item
from agent.engine.steps.approvals import Approvals
from agent.engine.steps.base import TurnContext
from core.approvers import Deciders
from core.ledger import Ledger
from core.routes import Route
from tests.turns.conftest import ALICE, MALLORY, PHRASES

CONV = "job:cust/pcb"


def propose(ledger: Ledger, n: int = 1) -> list[str]:
    turn = ledger.record_turn(CONV, "event", "cust/pcb")
    return [
        ledger.propose(
            turn.turn_id, "git_change", {"repo": "train", "path": f"c{i}.yaml"}, "diff"
        ).id
        for i in range(n)
    ]


def turn_with(ledger: Ledger, *items: Item) -> TurnContext:
    source = items[0].kind
    turn = ledger.record_turn(CONV, source, ",".join(i.payload["user"] for i in items))
    return TurnContext(turn.turn_id, turn.seq, CONV, list(items), started=0.0)


def said(user: str, text: str) -> Item:
    return Item(1, "chat", CONV, {"user": user, "text": text}, 0.0)


def clicked(user: str, action: str, proposal: str) -> Item:
    return Item(2, "click", CONV, {"user": user, "action": action, "proposal": proposal}, 0.0)


def approvals(ledger: Ledger) -> Approvals:
    return Approvals(ledger, PHRASES, frozenset({ALICE}))


async def test_an_allowlisted_yes_confirms_the_open_proposals_in_this_turn(ledger: Ledger) -> None:
    (p,) = propose(ledger)
    turn = turn_with(ledger, said(ALICE, "Kör på!"))
    await approvals(ledger).before(turn)

    decision = ledger.decision_of(p)
    assert decision is not None
    assert (decision.decision, decision.person, decision.how) == ("approve", ALICE, "text")
    assert decision.turn_id == turn.turn_id
    assert turn.notes == [f"proposal {p} approved by <@{ALICE}> (text)"]


async def test_a_strangers_yes_does_nothing(ledger: Ledger) -> None:
    (p,) = propose(ledger)
    turn = turn_with(ledger, said(MALLORY, "yes"))
    await approvals(ledger).before(turn)

    assert ledger.decision_of(p) is None
    assert turn.notes == []


async def test_a_strangers_click_does_nothing(ledger: Ledger) -> None:
    (p,) = propose(ledger)
    turn = turn_with(ledger, clicked(MALLORY, "approve", p))
    await approvals(ledger).before(turn)

    assert ledger.decision_of(p) is None
    assert turn.notes == []


async def test_a_yes_with_a_condition_is_not_a_yes(ledger: Ledger) -> None:
    (p,) = propose(ledger)
    turn = turn_with(ledger, said(ALICE, "yes, but change the lr first"))
    await approvals(ledger).before(turn)

    assert ledger.decision_of(p) is None
    assert turn.notes == []


async def test_a_click_approves_only_its_proposal(ledger: Ledger) -> None:
    first, second = propose(ledger, 2)
    turn = turn_with(ledger, clicked(ALICE, "approve", first))
    await approvals(ledger).before(turn)

    decision = ledger.decision_of(first)
    assert decision is not None and (decision.decision, decision.how) == ("approve", "button")
    assert ledger.decision_of(second) is None
    assert turn.notes == [f"proposal {first} approved by <@{ALICE}> (button)"]


async def test_a_reject_click_rejects_and_closes_its_proposal(ledger: Ledger) -> None:
    (p,) = propose(ledger)
    turn = turn_with(ledger, clicked(ALICE, "reject", p))
    await approvals(ledger).before(turn)

    proposal = ledger.proposal(p)
    assert proposal is not None and proposal.status == "rejected"
    assert turn.notes == [f"proposal {p} rejected by <@{ALICE}> (button)"]


async def test_a_refused_decision_is_told_to_the_model(ledger: Ledger) -> None:
    proposing = ledger.record_turn(CONV, "event", "cust/pcb")
    p = ledger.propose(proposing.turn_id, "git_change", {"repo": "train"}, "diff").id
    # The click arrives in the proposal's own turn: never a confirmation.
    own = TurnContext(proposing.turn_id, proposing.seq, CONV, [clicked(ALICE, "approve", p)], 0.0)
    await approvals(ledger).before(own)

    assert ledger.decision_of(p) is None
    (note,) = own.notes
    assert note.startswith(f"approve of proposal {p} by <@{ALICE}> refused: ")
    assert "later turn" in note


async def test_a_click_is_routed_to_its_proposals_conversation(ledger: Ledger) -> None:
    (p,) = propose(ledger)
    assert await approvals(ledger).proposal_conversation(p) == CONV
    assert await approvals(ledger).proposal_conversation("Pnope") is None


async def test_only_the_route_s_approvers_decide_its_proposals(ledger: Ledger) -> None:
    """With routes, an allowlisted person who is not an approver of the proposal's routes
    is refused, told who may, and the refusal is in the audit trail."""
    (p,) = propose(ledger)
    route = Route("customer-b", ("customer-b/**",), "CB", frozenset({"UBO"}))
    only_bo = Approvals(
        ledger, PHRASES, frozenset({ALICE, "UBO"}), lambda _: Deciders((route,), route.approvers)
    )
    turn = turn_with(ledger, said(ALICE, "yes"))
    await only_bo.before(turn)

    assert ledger.decision_of(p) is None
    assert turn.notes == [
        f"approve of proposal {p} by <@{ALICE}> refused: only an approver of customer-b"
        " (<@UBO>) may decide it"
    ]
    (refused,) = [r for r in ledger.audit_rows() if r.action == "proposal.approve_refused"]
    assert (refused.actor, refused.detail["proposal"]) == (ALICE, p)
    clicked_turn = turn_with(ledger, clicked("UBO", "approve", p))
    await only_bo.before(clicked_turn)
    decision = ledger.decision_of(p)
    assert decision is not None and decision.person == "UBO"
