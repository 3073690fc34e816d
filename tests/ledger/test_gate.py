"""The gate at the ledger level; tests/git repeats the story against a real remote."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from core.ledger import GateRefused, Ledger, LedgerError, Proposal, Turn
from tests.ledger.conftest import Clock

ALLOWED = frozenset({"U1"})


def _approved(ledger: Ledger) -> tuple[Proposal, Turn]:
    t1 = ledger.record_turn("job:a", "event", "training")
    proposal = ledger.propose(t1.turn_id, "aiqu_cancel", {"job": "123", "owner": "bob"}, "cancel")
    t2 = ledger.record_turn("job:a", "chat", "U1")
    ledger.confirm(proposal.id, "U1", t2.turn_id, "text")
    return proposal, t2


def _sql(ledger: Ledger, statement: str, *args: object) -> None:
    with sqlite3.connect(ledger.path) as conn:
        conn.execute(statement, args)


def test_the_gate_passes_once_and_the_second_use_is_refused(ledger: Ledger) -> None:
    proposal, t2 = _approved(ledger)
    assert ledger.gate(proposal.id, t2.turn_id, ALLOWED).person == "U1"
    used = ledger.mark_used(proposal.id, t2.turn_id, ALLOWED)
    assert used.used is not None and used.used_turn == t2.turn_id
    t3 = ledger.record_turn("job:a", "chat", "U1")
    with pytest.raises(GateRefused, match="already used"):
        ledger.mark_used(proposal.id, t3.turn_id, ALLOWED)


def test_two_racing_mark_used_get_exactly_one_success(ledger: Ledger, clock: Clock) -> None:
    proposal, t2 = _approved(ledger)
    key = Ledger.load_key(ledger.path.parent / "ledger.key")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def apply() -> None:
        mine = Ledger(ledger.path, key, clock=clock)
        barrier.wait()
        try:
            mine.mark_used(proposal.id, t2.turn_id, ALLOWED)
            outcomes.append("used")
        except GateRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=apply) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["refused", "refused", "refused", "used"]


def test_no_approval_tells_the_model_to_end_its_turn_and_wait(ledger: Ledger) -> None:
    t1 = ledger.record_turn("job:a", "event", "training")
    proposal = ledger.propose(t1.turn_id, "aiqu_cancel", {"job": "1"}, "cancel")
    t2 = ledger.record_turn("job:a", "chat", "U1")
    with pytest.raises(
        GateRefused, match=f"end your turn and wait .* approve proposal {proposal.id}"
    ):
        ledger.gate(proposal.id, t2.turn_id, ALLOWED)


def test_an_approval_made_after_the_applying_turn_does_not_count(ledger: Ledger) -> None:
    t1 = ledger.record_turn("job:a", "event", "training")
    proposal = ledger.propose(t1.turn_id, "aiqu_cancel", {"job": "1"}, "cancel")
    t2 = ledger.record_turn("job:a", "event", "training")
    t3 = ledger.record_turn("job:a", "chat", "U1")
    ledger.confirm(proposal.id, "U1", t3.turn_id, "text")
    with pytest.raises(GateRefused, match="between the proposal and now"):
        ledger.gate(proposal.id, t2.turn_id, ALLOWED)


def test_a_rejected_proposal_is_refused(ledger: Ledger) -> None:
    t1 = ledger.record_turn("job:a", "event", "training")
    proposal = ledger.propose(t1.turn_id, "aiqu_cancel", {"job": "1"}, "cancel")
    t2 = ledger.record_turn("job:a", "click", "U1")
    ledger.reject(proposal.id, "U1", t2.turn_id, "button")
    with pytest.raises(GateRefused, match="rejected by U1"):
        ledger.gate(proposal.id, t2.turn_id, ALLOWED)


def test_an_edited_approval_row_counts_as_no_approval(ledger: Ledger) -> None:
    t1 = ledger.record_turn("job:a", "event", "training")
    proposal = ledger.propose(t1.turn_id, "aiqu_cancel", {"job": "1"}, "cancel")
    t2 = ledger.record_turn("job:a", "chat", "mallory")
    ledger.confirm(proposal.id, "mallory", t2.turn_id, "text")
    _sql(ledger, "UPDATE confirmations SET person = 'U1'")  # forge an allowed approver
    with pytest.raises(GateRefused, match="no confirmation from an allowed person yet"):
        ledger.gate(proposal.id, t2.turn_id, ALLOWED)


def test_resetting_a_used_approval_by_hand_does_not_make_it_usable(ledger: Ledger) -> None:
    proposal, t2 = _approved(ledger)
    ledger.mark_used(proposal.id, t2.turn_id, ALLOWED)
    _sql(ledger, "UPDATE confirmations SET used = NULL, used_turn = NULL")
    with pytest.raises(GateRefused, match="no confirmation"):
        ledger.gate(proposal.id, t2.turn_id, ALLOWED)


def test_an_edited_proposal_payload_makes_the_proposal_unknown(ledger: Ledger) -> None:
    proposal, t2 = _approved(ledger)
    _sql(ledger, "UPDATE proposals SET payload_json = ?", '{"job": "999"}')
    with pytest.raises(GateRefused, match=f"unknown proposal '{proposal.id}'"):
        ledger.gate(proposal.id, t2.turn_id, ALLOWED)


def test_an_inserted_turn_without_the_key_is_unknown(ledger: Ledger) -> None:
    proposal, _ = _approved(ledger)
    _sql(
        ledger,
        "INSERT INTO turns VALUES ('forged', 'job:a', 99, 'chat', 'U1', 0, 'not-a-mac')",
    )
    with pytest.raises(GateRefused, match="unknown turn_id 'forged'"):
        ledger.gate(proposal.id, "forged", ALLOWED)


def test_audit_rows_record_the_story_in_order_and_flag_edits(ledger: Ledger) -> None:
    proposal, t2 = _approved(ledger)
    ledger.audit("note", actor="supervisor", conversation="job:b", detail={"job": "a"})
    ledger.mark_used(proposal.id, t2.turn_id, ALLOWED)
    rows = ledger.audit_rows(job="a")
    assert [r.action for r in rows] == [
        "proposal.created",
        "proposal.approved",
        "note",
        "approval.used",
    ]
    assert [r.actor for r in rows][:2] == ["agent", "U1"]
    assert [r.action for r in ledger.audit_rows(conversation="job:b")] == ["note"]
    assert all(r.verified for r in rows)
    _sql(ledger, "UPDATE audit SET actor = 'someone' WHERE action = 'proposal.approved'")
    flagged = {r.action: r.verified for r in ledger.audit_rows()}
    assert flagged["proposal.approved"] is False and flagged["note"] is True


def test_audit_rows_filter_by_time(ledger: Ledger, clock: Clock) -> None:
    ledger.audit("early", actor="x")
    clock.now += 100
    ledger.audit("late", actor="x")
    assert [r.action for r in ledger.audit_rows(since=clock.now - 50)] == ["late"]
    assert [r.action for r in ledger.audit_rows(until=clock.now - 50)] == ["early"]


def test_closing_never_overwrites_a_closed_proposal(ledger: Ledger) -> None:
    proposal, _ = _approved(ledger)
    ledger.close(proposal.id, "applied", "abc123")
    late = ledger.close(proposal.id, "expired", "base moved")
    assert (late.status, late.outcome) == ("applied", "abc123")
    with pytest.raises(LedgerError, match="'applied' or 'expired'"):
        ledger.close(proposal.id, "open", "x")
