"""The read tools: free to call, bounded in what they return, never writing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import git
from pydantic import Field

from mcp_servers.compact import INTEGER

from .errors import GitSkillError
from .models import FileText, GrepMatch, GrepResult, LogEntry, LogResult
from .params import Repo, RepoPath, Rev
from .repos import blob_at, stderr_of
from .safety import check_glob, check_path
from .skill import GitSkill

MAX_FILE_CHARS = 60_000
MAX_LINE_CHARS = 240
MAX_PATCH_CHARS = 6_000


def read_file(
    skill: GitSkill,
    repo: Repo,
    path: RepoPath,
    rev: Rev = None,
    find: Annotated[str | None, Field(description="a regex: only matching lines")] = None,
) -> FileText | GrepResult:
    """Read a text file; with find, the matching lines under path (file, folder, glob)."""
    # One tool for reading and searching (grep): every tool costs the model its schema on
    # every turn.
    if find is not None:
        return grep(skill, repo, find, path_glob=path, rev=rev, under=True)
    return _read(skill, repo, path, rev)


def _read(skill: GitSkill, repo: Repo, path: RepoPath, rev: Rev) -> FileText:
    repos = skill.repos
    path = check_path(path)
    # Closing the repo ends GitPython's persistent `git cat-file` helpers.
    with repos.open(repo) as handle:
        commit = repos.resolve(repo, handle, rev)
        blob = blob_at(commit, path)
        if blob is None:
            raise GitSkillError(
                f"no file {path!r} in {repo!r} at {commit.hexsha[:12]}; search with find,"
                " or read the log"
            )
        data = blob.data_stream.read()
        if b"\x00" in data[:8000]:
            raise GitSkillError(f"{path!r} is a binary file ({len(data)} bytes): not shown")
        text = data.decode("utf-8", errors="replace")
        return FileText(
            repo=repo,
            path=path,
            commit=commit.hexsha[:12],
            text=text[:MAX_FILE_CHARS],
            lines=text.count("\n") + (0 if text.endswith("\n") or not text else 1),
            truncated=len(text) > MAX_FILE_CHARS,
        )


def log(
    skill: GitSkill,
    repo: Repo,
    path: str | None = None,
    n: Annotated[int, Field(ge=1, le=50), INTEGER] = 10,
    patch: bool = False,
) -> LogResult:
    """Recent commits, newest first; with patch, each one's changes (to path)."""
    # `diff` between any two revisions stays a function; the model reads what changed
    # commit by commit here (one schema fewer on every turn).
    repos = skill.repos
    paths = check_path(path) if path is not None else ""
    # Closing the repo ends GitPython's persistent `git cat-file` helpers.
    with repos.open(repo) as handle:
        head = repos.resolve(repo, handle, None)
        commits = handle.iter_commits(head.hexsha, paths=paths, max_count=max(1, min(n, 50)))
        return LogResult(
            repo=repo,
            entries=[
                LogEntry(
                    commit=c.hexsha[:12],
                    date=datetime.fromtimestamp(c.authored_date, UTC).isoformat(timespec="seconds"),
                    author=str(c.author.name),
                    subject=str(c.summary)[:MAX_LINE_CHARS],
                    patch=_patch(handle, c, paths) if patch else None,
                )
                for c in commits
            ],
        )


def _patch(handle: git.Repo, commit: git.Commit, path: str) -> str:
    """The commit's changes (to `path`), cut at MAX_PATCH_CHARS."""
    text = handle.git.show(
        commit.hexsha,
        "--format=",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--",
        *([path] if path else []),
        strip_newline_in_stdout=False,
    )
    return text if len(text) <= MAX_PATCH_CHARS else text[:MAX_PATCH_CHARS] + "\n… (cut)"


def grep(
    skill: GitSkill,
    repo: Repo,
    pattern: Annotated[str, Field(description="extended regex")],
    path_glob: Annotated[str | None, Field(description="e.g. configs/*.yaml")] = None,
    rev: Rev = None,
    max_matches: Annotated[int, Field(ge=1, le=200), INTEGER] = 50,
    *,
    under: bool = False,
) -> GrepResult:
    """Search text files. `under`: path_glob may also name a folder (everything in it)."""
    repos = skill.repos
    if not pattern:
        raise GitSkillError("pattern is empty: give a regular expression, e.g. image_size")
    # Closing the repo ends GitPython's persistent `git cat-file` helpers.
    with repos.open(repo) as handle:
        commit = repos.resolve(repo, handle, rev)
        spec = [f":(glob){check_glob(path_glob)}"] if path_glob else []
        if path_glob and under:
            spec.append(f":(glob){check_glob(path_glob.rstrip('/') + '/**')}")
        try:
            # -e keeps a pattern starting with '-' from being read as an option.
            out = handle.git.grep(
                "-n", "-I", "-E", "-z", "--no-color", "-e", pattern, commit.hexsha, "--", *spec
            )
        except git.GitCommandError as exc:
            if exc.status == 1:  # git grep's "no match"
                out = ""
            else:
                raise GitSkillError(f"grep failed: {stderr_of(exc)}") from None
        limit = max(1, min(max_matches, 200))
        matches = []
        for line in out.splitlines():
            # "<sha>:<path>\0<line>\0<text>" (-z: paths may contain ':')
            where, number, text = line.split("\0", 2)
            file = where[len(commit.hexsha) + 1 :]
            matches.append(GrepMatch(path=file, line=int(number), text=text[:MAX_LINE_CHARS]))
        return GrepResult(
            repo=repo,
            commit=commit.hexsha[:12],
            matches=matches[:limit],
            truncated=len(matches) > limit,
        )
