from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.ledger import Ledger, LedgerError
from core.proposals import GatedProposals
from mcp_servers.registry import proposal_words


def test_turn_ids_are_random_128_bit_and_seq_counts_per_conversation(ledger: Ledger) -> None:
    a1 = ledger.record_turn("job:a", "event", "training")
    b1 = ledger.record_turn("job:b", "chat", "U1")
    a2 = ledger.record_turn("job:a", "chat", "U1")
    assert (a1.seq, a2.seq, b1.seq) == (1, 2, 1)
    assert len({a1.turn_id, a2.turn_id, b1.turn_id}) == 3
    assert all(len(bytes.fromhex(t.turn_id)) == 16 for t in (a1, a2, b1))
    assert ledger.turn(a2.turn_id) == a2


def test_unknown_turn_source_is_refused_naming_valid_ones(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="valid: .*'chat'"):
        ledger.record_turn("job:a", "email", "x")
    assert ledger.record_turn("job:a", "event", "x").seq == 1  # nothing was written


def test_key_file_is_created_0600_with_32_bytes_and_reused(state_dir: Path) -> None:
    path = state_dir / "ledger.key"
    key = Ledger.create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Ledger.create_key(path) == key
    assert Ledger.load_key(path) == key


def test_a_key_file_others_can_read_is_refused(state_dir: Path) -> None:
    path = state_dir / "ledger.key"
    Ledger.create_key(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="must be mode 0600"):
        Ledger.load_key(path)


def test_a_ledger_opened_with_another_key_sees_no_records(ledger: Ledger, state_dir: Path) -> None:
    turn = ledger.record_turn("job:a", "event", "training")
    other = Ledger(ledger.path, b"k" * 32)
    assert other.turn(turn.turn_id) is None


def test_propose_needs_a_recorded_turn(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown turn_id 'nope'"):
        ledger.propose("nope", "git_change", {"path": "x"}, "diff")
    turn = ledger.record_turn("job:a", "event", "training")
    # A kind no skill declares is refused where proposals are made: the gate.
    gate = GatedProposals(ledger, frozenset({"U1"}), kinds=proposal_words())
    with pytest.raises(
        LedgerError, match="valid: \\['aiqu_cancel', 'aiqu_requeue', 'git_change'\\]"
    ):
        gate.propose(turn.turn_id, "rm_rf", {}, "x")
    assert ledger.proposals_of_turn(turn.turn_id) == []


def test_latest_proposing_turn_returns_only_that_turns_proposals(ledger: Ledger) -> None:
    t1 = ledger.record_turn("job:a", "event", "training")
    old = ledger.propose(t1.turn_id, "git_change", {"n": 1}, "one")
    t2 = ledger.record_turn("job:a", "chat", "U1")
    new1 = ledger.propose(t2.turn_id, "git_change", {"n": 2}, "two")
    new2 = ledger.propose(t2.turn_id, "aiqu_cancel", {"job": "x"}, "three")
    ledger.record_turn("job:a", "chat", "U1")  # a later turn that proposed nothing
    latest = ledger.latest_proposing_turn("job:a")
    assert {p.id for p in latest} == {new1.id, new2.id}
    assert old.id not in {p.id for p in latest}
    assert ledger.latest_proposing_turn("job:b") == []
