from __future__ import annotations

import pytest

from mcp_servers.git import reading
from mcp_servers.git.safety import GitSkillError
from mcp_servers.git.skill import GitSkill
from tests.git.conftest import TRAIN_YAML, Remote


def test_read_file_reads_the_branch_head_and_older_revisions(skill: GitSkill) -> None:
    now = reading.read_file(skill, "vision", "configs/train.yaml")
    assert now.text == TRAIN_YAML and now.lines == 4 and not now.truncated
    before = reading.read_file(skill, "vision", "configs/train.yaml", rev="origin/main~1")
    assert "image_size: 640" in before.text


def test_an_unknown_repo_names_the_configured_ones(skill: GitSkill) -> None:
    with pytest.raises(
        GitSkillError, match=r"unknown repo 'other'; configured repos: \['vision'\]"
    ):
        reading.read_file(skill, "other", "README.md")


@pytest.mark.parametrize("rev", ["--output=/tmp/x", "-p", "HEAD; rm", ""])
def test_revisions_that_look_like_options_are_refused(skill: GitSkill, rev: str) -> None:
    with pytest.raises(GitSkillError, match="revision .* is invalid"):
        reading.read_file(skill, "vision", "configs/train.yaml", rev=rev)


@pytest.mark.parametrize(
    "path", ["../remote.git/config", "/etc/passwd", "configs/../../x", "-rf", ".git/config"]
)
def test_paths_leaving_the_repo_are_refused(skill: GitSkill, path: str) -> None:
    with pytest.raises(GitSkillError, match="path .*(invalid|leaves the repository|inside .git)"):
        reading.read_file(skill, "vision", path)


def test_a_missing_file_says_where_it_looked(skill: GitSkill) -> None:
    with pytest.raises(
        GitSkillError, match="no file 'configs/nope.yaml' in 'vision' at [0-9a-f]{12}"
    ):
        reading.read_file(skill, "vision", "configs/nope.yaml")


def test_log_filters_by_path_and_counts(skill: GitSkill) -> None:
    everything = reading.log(skill, "vision")
    assert [e.subject for e in everything.entries] == [
        "Try larger images",
        "Initial training setup",
    ]
    assert len(reading.log(skill, "vision", n=1).entries) == 1
    assert [e.subject for e in reading.log(skill, "vision", path="src").entries] == [
        "Initial training setup"
    ]
    assert everything.entries[0].author == "Dana Dev"


def test_log_with_patch_shows_each_commits_changes_to_the_path(skill: GitSkill) -> None:
    entries = reading.log(skill, "vision", path="configs", patch=True).entries
    assert "-image_size: 640\n+image_size: 1280\n" in (entries[0].patch or "")
    assert all("src/train.py" not in (e.patch or "") for e in entries)
    assert reading.log(skill, "vision").entries[0].patch is None  # only when asked


def test_read_file_with_find_searches_a_file_or_a_folder(skill: GitSkill) -> None:
    in_folder = reading.read_file(skill, "vision", "configs", find="image_size")
    in_file = reading.read_file(skill, "vision", "configs/train.yaml", find="image_size")
    for found in (in_folder, in_file):
        assert isinstance(found, reading.GrepResult)
        assert [(m.path, m.line) for m in found.matches] == [("configs/train.yaml", 2)]


def test_grep_finds_lines_with_a_glob_and_a_dash_pattern(skill: GitSkill, remote: Remote) -> None:
    found = reading.grep(skill, "vision", "image_size", path_glob="configs/**")
    assert [(m.path, m.line, m.text) for m in found.matches] == [
        ("configs/train.yaml", 2, "image_size: 1280")
    ]
    # A pattern starting with '-' is a pattern, not an option.
    assert reading.grep(skill, "vision", "-rf").matches == []
    limited = reading.grep(skill, "vision", ".", max_matches=2)
    assert len(limited.matches) == 2 and limited.truncated


def test_grep_refuses_pathspec_magic(skill: GitSkill) -> None:
    with pytest.raises(GitSkillError, match="path_glob"):
        reading.grep(skill, "vision", "x", path_glob=":(exclude)src")


def test_reads_of_the_branch_fetch_what_others_pushed(skill: GitSkill, remote: Remote) -> None:
    pushed = remote.push_other_change("configs/train.yaml", "image_size: 960\n", "Use 960")
    result = reading.read_file(skill, "vision", "configs/train.yaml")
    assert (result.commit, result.text) == (pushed[:12], "image_size: 960\n")


def test_an_unreachable_remote_is_reported_with_a_way_to_read_anyway(
    skill: GitSkill, remote: Remote
) -> None:
    remote.bare.rename(remote.bare.with_name("gone.git"))
    with pytest.raises(GitSkillError, match="fetch from origin failed: .*pass rev='origin/main'"):
        reading.read_file(skill, "vision", "configs/train.yaml")
    stale = reading.read_file(skill, "vision", "configs/train.yaml", rev="origin/main")
    assert stale.text == TRAIN_YAML


def _git_helpers_of_this_process() -> int:
    """`git cat-file --batch` helpers GitPython keeps per open Repo, children of this process."""
    import os
    from pathlib import Path

    count = 0
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"cat-file" in cmd:
            count += 1
    return count


def test_reads_leave_no_git_helper_processes_behind(skill: GitSkill) -> None:
    for _ in range(5):
        reading.read_file(skill, "vision", "configs/train.yaml")
        reading.log(skill, "vision", n=3)
    assert _git_helpers_of_this_process() == 0
