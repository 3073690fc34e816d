"""What `doctor` reports for the git skill: every configured remote branch visible or not."""

from __future__ import annotations

import json
from pathlib import Path

from core.skill_env import SkillEnvironment
from mcp_servers.git.health import check
from tests.git.conftest import Remote


def health(**repos: dict[str, object]) -> tuple[bool, str]:
    return check(SkillEnvironment(extra={"MLOPS_GIT_REPOS": json.dumps(repos)}))


def test_a_visible_branch_is_healthy(remote: Remote) -> None:
    assert health(vision={"path": str(remote.clone)}) == (True, "1 repo(s) reachable: vision")


def test_a_missing_branch_or_clone_is_named(remote: Remote, tmp_path: Path) -> None:
    ok, message = health(
        vision={"path": str(remote.clone), "branch": "no-such-branch"},
        other={"path": str(tmp_path / "nowhere")},
    )
    assert not ok
    assert "vision: cannot see origin/no-such-branch" in message
    assert f"other: cannot see origin/main (repo 'other': {tmp_path / 'nowhere'} is not" in message


def test_no_repos_means_the_tools_are_off() -> None:
    assert check(SkillEnvironment()) == (
        True,
        "no repos configured (MLOPS_GIT_REPOS): git tools are off",
    )
