from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.engine.audit import AuditQueryError, audit_report, parse_when
from core.ledger import Ledger
from tests.ledger.conftest import Clock


def test_report_prints_rows_in_order_with_filters(
    ledger: Ledger, state_dir: Path, clock: Clock
) -> None:
    clock.now = parse_when("2025-06-15T10:00:00Z")
    t1 = ledger.record_turn("job:pcb", "event", "training")
    proposal = ledger.propose(t1.turn_id, "git_change", {"path": "configs/a.yaml"}, "diff")
    clock.now += 60
    t2 = ledger.record_turn("job:pcb", "chat", "U1")
    ledger.confirm(proposal.id, "U1", t2.turn_id, "text")
    ledger.audit("note", actor="supervisor", conversation="chat:C1:1", detail={"msg": "a\nb"})

    lines = audit_report(state_dir, job="pcb").splitlines()
    assert lines == [
        f"2025-06-15T10:00:00Z  job:pcb  {t1.turn_id[:8]}  agent  proposal.created  "
        f"kind=git_change proposal={proposal.id}",
        f"2025-06-15T10:01:00Z  job:pcb  {t2.turn_id[:8]}  U1  proposal.approved  "
        f"how=text proposal={proposal.id}",
    ]
    assert audit_report(state_dir, since="2025-06-15T10:00:30").count("\n") == 1
    assert "msg=a\\nb" in audit_report(state_dir, conversation="chat:C1:1")
    assert audit_report(state_dir, until="2025-06-14") == "no audit rows match"


def test_an_edited_row_is_marked(ledger: Ledger, state_dir: Path) -> None:
    ledger.audit("note", actor="supervisor", conversation="job:x")
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("UPDATE audit SET action = 'other'")
    assert "EDITED job:x" in audit_report(state_dir)


def test_bad_time_names_the_option_and_an_example(ledger: Ledger, state_dir: Path) -> None:
    with pytest.raises(AuditQueryError, match="--since: 'yesterday' is not an ISO 8601 time; e.g."):
        audit_report(state_dir, since="yesterday")


def test_a_missing_ledger_is_reported_not_created(tmp_path: Path) -> None:
    with pytest.raises(AuditQueryError, match="no ledger at"):
        audit_report(tmp_path)
    assert not (tmp_path / "ledger.sqlite").exists()
