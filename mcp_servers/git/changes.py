"""The write tools: propose a change (stored, not made) and apply an approved one.

propose_change fetches, builds the diff against the remote branch head and
files it through the write gate (`core.proposals`); nothing in the repo or on
the remote changes. apply_change passes the gate, then commits exactly the
stored diff and pushes it. Every outcome, refusals included, goes to the audit
trail.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

from core.globs import matches

from .errors import ERRORS, GitSkillError
from .kinds import GIT_CHANGE
from .models import ApplyResult, ProposalResult
from .params import Replace, ReplaceEdit, Repo, RepoPath, TurnId
from .patches import DiffDoesNotApply, commit_diff, make_diff, push
from .repos import blob_at
from .safety import check_path, path_allowed
from .skill import GitSkill

__all__ = ["ReplaceEdit", "apply_change", "propose_change"]


MAX_DIFF_CHARS = 64_000
# A commit message may not carry our own trailers: only the gate writes who confirmed.
_TRAILER = re.compile(r"^\s*(confirmed-by|proposal)\s*:", re.IGNORECASE | re.MULTILINE)


def propose_change(
    skill: GitSkill,
    turn_id: TurnId,
    repo: Repo,
    path: RepoPath,
    commit_message: str,
    reason: Annotated[str, Field(description="for the approver")],
    new_content: Annotated[str | None, Field(description="whole file, or use replace")] = None,
    replace: Annotated[Replace | None, Field(description="old occurs exactly once")] = None,
) -> ProposalResult:
    """Propose a change to one file; then end your turn."""
    with _refusal_audited(skill, turn_id, "git.propose_change", repo=repo, path=path):
        cfg = skill.repos.config(repo)
        path = _writable(path, repo, cfg.allow)
        if (new_content is None) == (replace is None):
            raise GitSkillError(
                "give exactly one edit: new_content (the whole file) or replace {old, new}"
            )
        message, reason = _text(commit_message, "commit_message"), _text(reason, "reason")
        skill.proposals.require_turn(turn_id)  # before any fetch: a forged id costs nothing
        _route_allows(skill, turn_id, repo, path)
        with skill.repos.locked(repo) as handle:
            base = skill.repos.fetch(repo, handle)
            blob = blob_at(handle.commit(base), path)
            old = blob.data_stream.read() if blob is not None else None
            new = _edited(old, path, new_content, replace)
            diff = make_diff(handle, base, path, new, blob.mode if blob is not None else 0o100644)
        if len(diff) > MAX_DIFF_CHARS:
            raise GitSkillError(
                f"the diff is {len(diff)} characters: too large to review; split it"
            )
        payload = {
            "repo": repo,
            "path": path,
            "base_commit": base,
            "diff": diff,
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest(),
            "new_content_sha256": hashlib.sha256(new).hexdigest(),
            "commit_message": message,
            "reason": reason,
        }
        proposal = skill.proposals.propose(turn_id, GIT_CHANGE, payload, summary=diff)
    skill.proposals.audit(
        turn_id, "git.propose_change", proposal=proposal.id, repo=repo, path=path, base=base[:12]
    )
    return ProposalResult(
        proposal_id=proposal.id,
        repo=repo,
        path=path,
        base_commit=base[:12],
        diff=diff,
        expires=datetime.fromtimestamp(proposal.expires, UTC).isoformat(timespec="seconds"),
        next_step=f"End your turn now. A person must approve {proposal.id}; call apply_change "
        "only in a later turn that tells you it was approved.",
    )


def apply_change(skill: GitSkill, turn_id: TurnId, proposal_id: str) -> ApplyResult:
    """Commit and push a proposal a person approved (in a later turn)."""
    with _refusal_audited(skill, turn_id, "git.apply_change", proposal=proposal_id):
        result = _apply(skill, turn_id, proposal_id)
    skill.proposals.audit(turn_id, "git.apply_change", **result.model_dump())
    return result


def _apply(skill: GitSkill, turn_id: str, proposal_id: str) -> ApplyResult:
    # Cheap refusals first, before any network traffic.
    p = skill.proposals.approved(proposal_id, turn_id, GIT_CHANGE).proposal.payload
    cfg = skill.repos.config(p["repo"])
    path = _writable(p["path"], p["repo"], cfg.allow)  # the allow list may have shrunk since
    _route_allows(skill, turn_id, p["repo"], path)
    diff = p["diff"]
    if hashlib.sha256(diff.encode()).hexdigest() != p["diff_sha256"]:
        raise GitSkillError(f"proposal {proposal_id}'s diff does not match its checksum: refused")
    with skill.repos.locked(p["repo"]) as handle:
        head = skill.repos.fetch(p["repo"], handle)
        confirmation = skill.proposals.approved(proposal_id, turn_id, GIT_CHANGE).confirmation
        message = (
            f"{p['commit_message']}\n\n{p['reason']}\n\n"
            f"Proposal: {proposal_id}\nConfirmed-by: {confirmation.person}\n"
        )
        try:
            commit = commit_diff(handle, head, diff, path, message, skill.author)
        except DiffDoesNotApply as exc:
            note = (
                f"base moved: {cfg.branch} is at {head[:12]}, proposed on {p['base_commit'][:12]}"
            )
            skill.proposals.close(proposal_id, "expired", note)
            raise GitSkillError(
                f"{note} and the diff no longer applies ({exc}); read the file again and "
                "propose the change again"
            ) from None
        # Consume the approval right before the push: one approval, one push.
        skill.proposals.spend(proposal_id, turn_id)
        try:
            push(handle, cfg, commit)
        except GitSkillError as exc:
            skill.proposals.close(proposal_id, "expired", f"push refused: {exc}")
            raise GitSkillError(f"{exc}; the approval is spent: propose the change again") from None
        skill.proposals.close(proposal_id, "applied", commit)
        skill.repos.fetch(p["repo"], handle)  # reads now see the pushed commit
    return ApplyResult(
        proposal_id=proposal_id,
        repo=p["repo"],
        branch=cfg.branch,
        commit=commit,
        confirmed_by=confirmation.person,
    )


@contextmanager
def _refusal_audited(
    skill: GitSkill, turn_id: str, action: str, **detail: object
) -> Iterator[None]:
    """Record a refusal of `action` in the audit trail, then let it reach the model."""
    try:
        yield
    except ERRORS as exc:
        skill.proposals.audit(turn_id, f"{action}.refused", **detail, error=str(exc))
        raise


def _writable(path: str, repo: str, allow: tuple[str, ...]) -> str:
    path = check_path(path)
    if not path_allowed(path, allow):
        where = f"writable paths: {', '.join(allow)}" if allow else "nothing in it is writable"
        raise GitSkillError(f"path {path!r} may not be changed in repo {repo!r}; {where}")
    return path


def _route_allows(skill: GitSkill, turn_id: str, repo: str, path: str) -> None:
    """A route that lists repos limits its conversations' changes to those paths: one
    customer's thread cannot change another customer's configs."""
    route = skill.proposals.route_of_turn(turn_id)
    if route is None or route.repos is None:
        return
    globs = route.repos.get(repo)
    if globs is None:
        names = ", ".join(sorted(route.repos)) or "none"
        raise GitSkillError(
            f"repo {repo!r} may not be changed from route {route.name!r}; its repos: {names}"
        )
    if not matches(path, globs):
        raise GitSkillError(
            f"path {path!r} may not be changed from route {route.name!r}; writable there in"
            f" {repo!r}: {', '.join(globs)}"
        )


def _text(value: str, name: str) -> str:
    value = value.strip()
    if not value:
        raise GitSkillError(f"{name} is empty: say in a sentence what changes and why")
    if _TRAILER.search(value):
        raise GitSkillError(f"{name} may not contain 'Confirmed-by:' or 'Proposal:' lines")
    return value


def _edited(
    old: bytes | None, path: str, new_content: str | None, edit: ReplaceEdit | None
) -> bytes:
    if new_content is not None:
        new = new_content.encode()
    else:
        assert edit is not None
        if old is None:
            raise GitSkillError(f"{path!r} does not exist yet: create it with new_content")
        try:
            text = old.decode("utf-8")
        except UnicodeDecodeError:
            raise GitSkillError(f"{path!r} is not UTF-8 text: give new_content") from None
        count = text.count(edit.old) if edit.old else 0
        if count != 1:
            what = "does not occur" if count == 0 else f"occurs {count} times"
            raise GitSkillError(
                f"replace.old {what} in {path!r} at the branch head; it must match exactly once: "
                "read_file again and copy the exact lines, with enough context to be unique"
            )
        new = text.replace(edit.old, edit.new, 1).encode()
    if new == old:
        raise GitSkillError("the edit changes nothing")
    return new
