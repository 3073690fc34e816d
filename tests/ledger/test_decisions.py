from __future__ import annotations

import sqlite3
import threading

import pytest

from core.ledger import Ledger, LedgerError, Proposal, Turn
from tests.ledger.conftest import Clock


def _proposed(ledger: Ledger) -> tuple[Turn, Proposal]:
    turn = ledger.record_turn("job:a", "event", "training")
    return turn, ledger.propose(turn.turn_id, "git_change", {"path": "configs/a.yaml"}, "diff")


def test_confirm_records_once_and_a_double_click_returns_the_first(ledger: Ledger) -> None:
    _, proposal = _proposed(ledger)
    t2 = ledger.record_turn("job:a", "click", "U1")
    first = ledger.confirm(proposal.id, "U1", t2.turn_id, "button")
    again = ledger.confirm(proposal.id, "U2", t2.turn_id, "button")
    assert first.recorded and not again.recorded
    assert again.record == first.record
    assert "already approved by U1" in again.message


def test_concurrent_confirms_on_separate_connections_record_exactly_one(
    ledger: Ledger, clock: Clock
) -> None:
    _, proposal = _proposed(ledger)
    turns = [ledger.record_turn("job:a", "click", f"U{i}") for i in range(8)]
    # Separate Ledger objects: separate sqlite connections, as two processes would have.
    key = Ledger.load_key(ledger.path.parent / "ledger.key")
    ledgers = [Ledger(ledger.path, key, clock=clock) for _ in turns]
    barrier = threading.Barrier(len(turns))
    results = []

    def click(i: int) -> None:
        barrier.wait()
        results.append(ledgers[i].confirm(proposal.id, f"U{i}", turns[i].turn_id, "button"))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(len(turns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(r.recorded for r in results) == 1
    assert len({r.record.id for r in results}) == 1
    with sqlite3.connect(ledger.path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM confirmations").fetchone()
    assert count == 1


def test_a_decision_in_the_proposals_own_turn_is_refused(ledger: Ledger) -> None:
    turn, proposal = _proposed(ledger)
    with pytest.raises(LedgerError, match="later turn"):
        ledger.confirm(proposal.id, "U1", turn.turn_id, "text")
    assert ledger.decision_of(proposal.id) is None


def test_a_decision_from_another_conversation_is_refused(ledger: Ledger) -> None:
    _, proposal = _proposed(ledger)
    ledger.record_turn("job:b", "event", "training")
    elsewhere = ledger.record_turn("job:b", "chat", "U1")
    with pytest.raises(LedgerError, match="another conversation"):
        ledger.confirm(proposal.id, "U1", elsewhere.turn_id, "text")
    assert ledger.decision_of(proposal.id) is None


def test_reject_closes_the_proposal_and_a_later_approve_gets_the_rejection(ledger: Ledger) -> None:
    _, proposal = _proposed(ledger)
    t2 = ledger.record_turn("job:a", "click", "U1")
    assert ledger.reject(proposal.id, "U1", t2.turn_id, "button").recorded
    stored = ledger.proposal(proposal.id)
    assert stored is not None and stored.status == "rejected"
    late = ledger.confirm(proposal.id, "U2", t2.turn_id, "button")
    assert not late.recorded and late.record.decision == "reject"


def test_an_expired_proposal_cannot_be_approved(ledger: Ledger, clock: Clock) -> None:
    _, proposal = _proposed(ledger)
    t2 = ledger.record_turn("job:a", "chat", "U1")
    clock.now += 24 * 3600 + 1
    with pytest.raises(LedgerError, match="expired"):
        ledger.confirm(proposal.id, "U1", t2.turn_id, "text")


def test_unknown_how_is_refused(ledger: Ledger) -> None:
    _, proposal = _proposed(ledger)
    t2 = ledger.record_turn("job:a", "chat", "U1")
    with pytest.raises(LedgerError, match="valid: \\['button', 'text'\\]"):
        ledger.confirm(proposal.id, "U1", t2.turn_id, "email")
