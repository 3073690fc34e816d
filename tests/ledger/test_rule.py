"""The one approval rule (`core.ledger.rule.decision_refusal`), as a pure function over
records: each condition refuses on its own, and who is asked before where and when."""

from __future__ import annotations

from dataclasses import replace

from core.ledger import Proposal, Refusal, Turn, decision_refusal

PROPOSING = Turn("t1", "job:a", 1, "event", "training", 100.0)
LATER = Turn("t2", "job:a", 2, "chat", "U1", 200.0)
PROPOSAL = Proposal("P1", "git_change", "job:a", "t1", "{}", "a diff", 100.0, 1000.0, "open", None)
DECIDERS = frozenset({"U1"})


def _refusal(proposal: Proposal = PROPOSAL, person: str = "U1", **known: object) -> object:
    asked: dict[str, object] = {
        "deciders": DECIDERS, "proposing": PROPOSING, "deciding": LATER, "now": 500.0,
    } | known  # fmt: skip
    return decision_refusal(proposal, person, **asked)  # type: ignore[arg-type]


def test_a_decider_in_a_later_turn_of_the_same_conversation_of_an_open_proposal_may() -> None:
    assert _refusal() is None


def test_someone_who_is_not_a_decider_may_not() -> None:
    assert _refusal(person="mallory") is Refusal.NOT_A_DECIDER


def test_a_turn_of_another_conversation_may_not() -> None:
    assert _refusal(deciding=replace(LATER, conversation="job:b")) is Refusal.ELSEWHERE


def test_the_proposals_own_turn_or_an_earlier_one_may_not() -> None:
    assert _refusal(deciding=PROPOSING) is Refusal.TOO_EARLY


def test_an_expired_or_closed_proposal_may_not_be_decided() -> None:
    assert _refusal(now=1001.0) is Refusal.CLOSED
    assert _refusal(replace(PROPOSAL, status="rejected")) is Refusal.CLOSED


def test_who_is_asked_before_where_and_when() -> None:
    elsewhere = replace(LATER, conversation="job:b")
    assert _refusal(person="mallory", deciding=elsewhere, now=1001.0) is Refusal.NOT_A_DECIDER


def test_what_a_surface_does_not_know_yet_is_left_to_the_next() -> None:
    # The web page, before there is a turn: only who.
    assert decision_refusal(PROPOSAL, "U1", deciders=DECIDERS) is None
    assert decision_refusal(PROPOSAL, "U2", deciders=DECIDERS) is Refusal.NOT_A_DECIDER
