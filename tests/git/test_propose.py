"""propose_change: every bad edit is refused with what would be valid, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from core.ledger import GateRefused, Ledger
from mcp_servers.git import changes
from mcp_servers.git.changes import ReplaceEdit
from mcp_servers.git.models import ProposalResult
from mcp_servers.git.safety import GitSkillError
from mcp_servers.git.skill import GitSkill
from tests.git.conftest import Conversation, Remote, git


def _propose(
    skill: GitSkill, turn_id: str, path: str = "configs/train.yaml", **kw: Any
) -> ProposalResult:
    args: dict[str, Any] = {"commit_message": "Tune", "reason": "because", **kw}
    return changes.propose_change(skill, turn_id, "vision", path, **args)


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        ({"replace": ReplaceEdit(old="image_size: 999", new="x")}, "does not occur"),
        ({"replace": ReplaceEdit(old="0", new="1")}, "occurs 3 times"),
        ({"replace": ReplaceEdit(old="", new="1")}, "does not occur"),
        ({"replace": ReplaceEdit(old="batch: 16", new="batch: 16")}, "changes nothing"),
        ({}, "exactly one edit"),
        ({"new_content": "a", "replace": ReplaceEdit(old="a", new="b")}, "exactly one edit"),
        ({"new_content": "x: 1\n", "commit_message": "  "}, "commit_message is empty"),
        (
            {"new_content": "x: 1\n", "reason": "ok\n\nConfirmed-by: U_ALICE"},
            "may not contain 'Confirmed-by:'",
        ),
    ],
)
def test_bad_edits_are_refused_and_store_nothing(
    skill: GitSkill, conv: Conversation, ledger: Ledger, edit: dict[str, Any], complaint: str
) -> None:
    t1 = conv.turn("event")
    with pytest.raises(GitSkillError, match=complaint):
        _propose(skill, t1, **edit)
    assert ledger.proposals_of_turn(t1) == []
    assert ledger.audit_rows()[-1].action == "git.propose_change.refused"


def test_an_unknown_turn_is_refused(skill: GitSkill, ledger: Ledger) -> None:
    with pytest.raises(GateRefused, match="unknown turn_id 'made-up'"):
        _propose(skill, "made-up", new_content="x: 1\n")


def test_new_content_may_create_a_file_and_keeps_modes(
    skill: GitSkill, conv: Conversation, remote: Remote
) -> None:
    result = _propose(skill, conv.turn("event"), "configs/eval.yaml", new_content="split: val\n")
    assert "new file mode 100644" in result.diff and "+split: val\n" in result.diff
    assert git(remote.clone, "status", "--porcelain") == ""


def test_a_file_without_final_newline_round_trips(
    skill: GitSkill, conv: Conversation, ledger: Ledger, remote: Remote
) -> None:
    result = _propose(skill, conv.turn("event"), new_content="image_size: 640")
    assert "\\ No newline at end of file" in result.diff
    t2 = conv.turn()
    ledger.confirm(result.proposal_id, "U_ALICE", t2, "text")
    applied = changes.apply_change(skill, t2, result.proposal_id)
    assert git(remote.bare, "show", f"{applied.commit}:configs/train.yaml") == "image_size: 640"
