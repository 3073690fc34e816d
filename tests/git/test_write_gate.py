"""The write gate against a real bare remote: one property per test, and after each
refusal the remote's refs are exactly what they were."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace

import pytest

from core.ledger import Confirmation, GateRefused, Ledger, LedgerError
from core.ledger.tables import SignedTables
from core.proposals import GatedProposals
from core.routes import DEFAULT, Route, Routes
from mcp_servers.git import changes
from mcp_servers.git.changes import ReplaceEdit
from mcp_servers.git.config import RepoConfig
from mcp_servers.git.models import ProposalResult
from mcp_servers.git.repos import GitRepos
from mcp_servers.git.safety import GitSkillError
from mcp_servers.git.skill import GitSkill
from mcp_servers.registry import proposal_words
from tests.git.conftest import ALICE, MALLORY, Conversation, Remote, git, make_skill
from tests.ledger.conftest import Clock

FIX = ReplaceEdit(old="image_size: 1280", new="image_size: 640")
Refused = (GitSkillError, LedgerError)


def propose(skill: GitSkill, turn_id: str, edit: ReplaceEdit = FIX) -> ProposalResult:
    return changes.propose_change(
        skill,
        turn_id,
        "vision",
        "configs/train.yaml",
        "Set image_size back to 640",
        "CUDA OOM at 1280 on a 24 GB card; 640 trained fine before.",
        replace=edit,
    )


def refused(skill: GitSkill, remote: Remote, turn_id: str, proposal_id: str, match: str) -> None:
    before = remote.refs()
    with pytest.raises(Refused, match=match):
        changes.apply_change(skill, turn_id, proposal_id)
    assert remote.refs() == before


def test_happy_path_commits_exactly_the_diff_naming_the_person(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    before, base = remote.refs(), remote.head()
    t1 = conv.turn("event", "training")
    proposal = propose(skill, t1)
    assert "-image_size: 1280\n+image_size: 640\n" in proposal.diff
    assert remote.refs() == before  # proposing writes nothing ...
    assert git(remote.clone, "status", "--porcelain") == ""  # ... not even the working tree

    t2 = conv.turn("chat", ALICE)
    assert ledger.confirm(proposal.proposal_id, ALICE, t2, "text").recorded
    result = changes.apply_change(skill, t2, proposal.proposal_id)

    assert remote.head() == result.commit and result.confirmed_by == ALICE
    assert git(remote.bare, "rev-parse", f"{result.commit}^").strip() == base
    pushed = git(remote.bare, "diff", "--src-prefix=a/", "--dst-prefix=b/", base, result.commit)
    assert pushed == proposal.diff
    trailers = git(remote.bare, "log", "-1", "--format=%(trailers)", result.commit)
    assert trailers == f"Proposal: {proposal.proposal_id}\nConfirmed-by: {ALICE}\n\n"
    author = git(remote.bare, "log", "-1", "--format=%an <%ae>|%s", result.commit)
    assert author.strip() == "mlops-agent <mlops-agent@localhost>|Set image_size back to 640"
    assert git(remote.bare, "rev-parse", "refs/heads/release") in before  # other branch untouched
    stored = ledger.proposal(proposal.proposal_id)
    assert stored is not None and (stored.status, stored.outcome) == ("applied", result.commit)
    actions = [r.action for r in ledger.audit_rows(conversation=conv.key)]
    assert actions == [
        "proposal.created",
        "git.propose_change",
        "proposal.approved",
        "approval.used",
        "proposal.closed",
        "git.apply_change",
    ]


def test_no_confirmation(skill: GitSkill, remote: Remote, conv: Conversation) -> None:
    proposal = propose(skill, conv.turn("event"))
    refused(skill, remote, conv.turn(), proposal.proposal_id, "no confirmation from an allowed")


def test_apply_in_the_proposals_own_turn(
    skill: GitSkill, remote: Remote, conv: Conversation
) -> None:
    t1 = conv.turn("event")
    proposal = propose(skill, t1)
    refused(skill, remote, t1, proposal.proposal_id, "was made in this turn: end your turn")


def test_made_up_turn_id(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    ledger.confirm(proposal.proposal_id, ALICE, conv.turn(), "text")
    refused(skill, remote, "f" * 32, proposal.proposal_id, "unknown turn_id")


def test_another_conversations_turn_id(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    ledger.confirm(proposal.proposal_id, ALICE, conv.turn(), "text")
    elsewhere = Conversation(ledger, "job:other")
    for _ in range(5):  # a higher seq there must not matter
        other_turn = elsewhere.turn()
    refused(skill, remote, other_turn, proposal.proposal_id, "another conversation")


def test_confirmation_by_a_person_not_on_the_allowlist(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn("chat", MALLORY)
    ledger.confirm(proposal.proposal_id, MALLORY, t2, "button")
    refused(skill, remote, t2, proposal.proposal_id, f"approved by {MALLORY}, who may not approve")


def test_confirmation_posted_in_another_conversation(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger, state_dir
) -> None:
    proposal = propose(skill, conv.turn("event"))
    elsewhere = Conversation(ledger, "job:other")
    foreign = [elsewhere.turn() for _ in range(3)][-1]
    with pytest.raises(LedgerError, match="another conversation"):
        ledger.confirm(proposal.proposal_id, ALICE, foreign, "text")
    # Even a correctly signed record of such an approval (a supervisor bug) does not count.
    tables = SignedTables(ledger.path, Ledger.load_key(state_dir / "ledger.key"))
    with tables.write() as db:
        row = Confirmation(
            1, proposal.proposal_id, "approve", ALICE, foreign, "text", 0.0, None, None
        )
        tables.insert(db, "confirmations", row)
    refused(skill, remote, conv.turn(), proposal.proposal_id, "not given in this conversation")


def test_confirmation_reused_for_a_second_apply(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    changes.apply_change(skill, t2, proposal.proposal_id)
    refused(skill, remote, conv.turn(), proposal.proposal_id, "already applied")


def test_confirmation_of_p_used_for_q(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    t1 = conv.turn("event")
    p = propose(skill, t1)
    q = propose(skill, t1, ReplaceEdit(old="batch: 16", new="batch: 8"))
    t2 = conv.turn()
    ledger.confirm(p.proposal_id, ALICE, t2, "text")
    refused(skill, remote, t2, q.proposal_id, f"approve proposal {q.proposal_id}")


def test_base_moved_so_the_diff_no_longer_applies(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    moved = remote.push_other_change("configs/train.yaml", "image_size: 960\n", "Use 960")
    refused(skill, remote, t2, proposal.proposal_id, "base moved: .* propose the change again")
    assert remote.head() == moved
    refused(skill, remote, conv.turn(), proposal.proposal_id, "expired \\(base moved")


def test_base_moved_elsewhere_still_applies_on_the_new_head(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    moved = remote.push_other_change("README.md", "# vision v2\n", "Docs")
    result = changes.apply_change(skill, t2, proposal.proposal_id)
    assert git(remote.bare, "rev-parse", f"{result.commit}^").strip() == moved
    assert "image_size: 640" in git(remote.bare, "show", f"{result.commit}:configs/train.yaml")


def test_path_outside_the_allowed_globs(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    t1 = conv.turn("event")
    before = remote.refs()
    with pytest.raises(
        GitSkillError, match="may not be changed in repo 'vision'; writable paths: configs/"
    ):
        changes.propose_change(
            skill, t1, "vision", "src/train.py", "x", "y", new_content="import os\n"
        )
    assert ledger.proposals_of_turn(t1) == [] and remote.refs() == before


def test_path_no_longer_allowed_at_apply_time(
    remote: Remote, conv: Conversation, ledger: Ledger, skill: GitSkill
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    narrowed = make_skill(remote, ledger, allow=["configs/eval/**"])
    refused(narrowed, remote, t2, proposal.proposal_id, "may not be changed")


def test_expired_proposal(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger, clock: Clock
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    clock.now += 24 * 3600 + 1
    refused(skill, remote, t2, proposal.proposal_id, "has expired: propose the change again")


def test_tampered_ledger_row(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    with sqlite3.connect(ledger.path) as db:
        db.execute("UPDATE proposals SET payload_json = replace(payload_json, '640', '6400')")
    refused(skill, remote, t2, proposal.proposal_id, "unknown proposal")


def test_two_concurrent_applies_push_once(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    base = remote.head()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def apply() -> None:
        barrier.wait()
        try:
            outcomes.append(changes.apply_change(skill, t2, proposal.proposal_id).commit)
        except Refused:
            outcomes.append("refused")

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes)[1] == "refused"
    assert git(remote.bare, "rev-list", "--count", f"{base}..main").strip() == "1"


def test_a_diverged_remote_is_refused_not_overwritten(skill: GitSkill, remote: Remote) -> None:
    """The push path has no force: a commit that is not a descendant of the remote
    head (as if the remote had been rewritten behind us) is rejected by git."""
    from mcp_servers.git.patches import commit_diff, make_diff, push

    handle = skill.repos.open("vision")
    old = git(remote.bare, "rev-parse", "main~1").strip()
    diff = make_diff(handle, old, "configs/train.yaml", b"image_size: 320\n", 0o100644)
    sibling = commit_diff(handle, old, diff, "configs/train.yaml", "Sibling", ("a", "a@b"))
    before = remote.refs()
    with pytest.raises(
        GitSkillError, match="push to origin main refused: .*(rejected|fast-forward)"
    ):
        push(handle, skill.repos.config("vision"), sibling)
    assert remote.refs() == before


def test_pushes_go_to_the_configured_branch_only(
    remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    skill = make_skill(remote, ledger, branch="release")
    main_before = remote.head("main")
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    ledger.confirm(proposal.proposal_id, ALICE, t2, "text")
    result = changes.apply_change(skill, t2, proposal.proposal_id)
    assert remote.head("release") == result.commit and remote.head("main") == main_before


def test_a_gate_refusal_is_audited(
    skill: GitSkill, remote: Remote, conv: Conversation, ledger: Ledger
) -> None:
    proposal = propose(skill, conv.turn("event"))
    t2 = conv.turn()
    with pytest.raises(GateRefused):
        changes.apply_change(skill, t2, proposal.proposal_id)
    last = ledger.audit_rows(conversation=conv.key)[-1]
    assert last.action == "git.apply_change.refused" and last.turn_id == t2
    assert "no confirmation" in last.detail["error"]


def routed_skill(remote: Remote, ledger: Ledger, routes: Routes) -> GitSkill:
    cfg = RepoConfig.model_validate({"path": remote.clone, "allow": ["configs/**"]})
    return GitSkill(
        GitRepos({"vision": cfg}),
        GatedProposals(ledger, frozenset({ALICE}), routes, kinds=proposal_words()),
    )


BO = "UBO"
SITE = Routes(
    (
        Route("customer-a", ("customer-a/**",), "CA", frozenset({ALICE})),
        Route(
            "customer-b", ("customer-b/**",), "CB", frozenset({BO}), {"vision": ("configs/b/**",)}
        ),
    ),
    # As a routes file without `default:` loads it: everyone on the allowlist.
    default=Route(DEFAULT, approvers=frozenset({ALICE, BO})),
)


def test_an_allowlisted_approver_of_another_route_cannot_approve(
    remote: Remote, ledger: Ledger
) -> None:
    """The skill checks the route's approvers itself, whatever the supervisor let through."""
    skill = routed_skill(remote, ledger, SITE)
    conv = Conversation(ledger, "job:customer-a/weld")
    proposal = propose(skill, conv.turn("event", "customer-a/weld"))
    t2 = conv.turn("chat", BO)
    ledger.confirm(proposal.proposal_id, BO, t2, "text")  # BO is allowlisted, but B's approver
    refused(skill, remote, t2, proposal.proposal_id, f"approved by {BO}, who may not approve")


def test_a_route_s_repos_limit_what_its_conversations_may_propose(
    remote: Remote, ledger: Ledger
) -> None:
    skill = routed_skill(remote, ledger, SITE)
    conv = Conversation(ledger, "job:customer-b/pcb")
    before = remote.refs()
    with pytest.raises(GitSkillError, match=r"may not be changed from route 'customer-b'"):
        propose(skill, conv.turn("event", "customer-b/pcb"))  # configs/train.yaml: not B's
    assert remote.refs() == before and ledger.proposals_of_turn(conv.turn()) == []


def test_a_path_of_two_routes_with_no_common_approver_is_refused_when_proposed(
    remote: Remote, ledger: Ledger
) -> None:
    """Both routes list configs/**: the change needs an approver of each. Nobody is both,
    so nothing is filed (an approval that cannot come), and the message says what to do."""
    both = Routes(
        (
            Route("customer-a", ("a/**",), "CA", frozenset({ALICE}), {"vision": ("configs/**",)}),
            Route("customer-b", ("b/**",), "CB", frozenset({BO}), {"vision": ("configs/**",)}),
        ),
        default=Route(DEFAULT, approvers=frozenset({ALICE, BO})),
    )
    skill = routed_skill(remote, ledger, both)
    conv = Conversation(ledger, "chat:D0ALICE:1.1")
    t1 = conv.turn("chat", ALICE)
    with pytest.raises(GateRefused, match="involves routes customer-a, customer-b and no one"):
        propose(skill, t1)
    assert ledger.proposals_of_turn(t1) == []

    # With one person approving for both, the same change is filed and that person decides.
    shared = Routes(
        tuple(replace(r, approvers=r.approvers | {ALICE}) for r in both.routes), both.default
    )
    skill = routed_skill(remote, ledger, shared)
    proposal = propose(skill, conv.turn("chat", ALICE))
    t3 = conv.turn("chat", BO)
    ledger.confirm(proposal.proposal_id, BO, t3, "text")
    refused(skill, remote, t3, proposal.proposal_id, f"approved by {BO}, who may not approve")
