"""Checks on what the model passes in: revisions, paths, globs.

Small and explicit on purpose: each one closes a specific hole.
"""

from __future__ import annotations

import posixpath

from core.globs import matches

from .errors import GitSkillError


def check_rev(rev: str) -> str:
    # A leading '-' would be read by git as an option (flag injection, e.g. --output=...).
    if not rev or rev.startswith("-"):
        raise GitSkillError(
            f"revision {rev!r} is invalid: give a commit, branch or tag, e.g. HEAD~1"
        )
    if any(c.isspace() or ord(c) < 32 for c in rev):
        raise GitSkillError(f"revision {rev!r} is invalid: no spaces or control characters")
    return rev


def check_path(path: str) -> str:
    """A repo-relative path that stays inside the repo, normalised ('a/./b' -> 'a/b')."""
    if not path or path.startswith("-"):
        # '-' first: flag injection; empty: would mean the whole repo.
        raise GitSkillError(
            f"path {path!r} is invalid: give a file path such as configs/train.yaml"
        )
    if "\x00" in path or "\\" in path:
        raise GitSkillError(f"path {path!r} is invalid: use '/' separators, no NUL")
    norm = posixpath.normpath(path)
    # Absolute paths and '..' would reach outside the repo's tree.
    if path.startswith("/") or norm == ".." or norm.startswith("../"):
        raise GitSkillError(
            f"path {path!r} leaves the repository: give a path relative to its root"
        )
    if ".git" in norm.split("/"):
        raise GitSkillError(f"path {path!r} is inside .git: not a file of the repository")
    return norm


def check_glob(glob: str) -> str:
    """A path filter for grep: like a path, and without pathspec magic (':(...)')."""
    if glob.startswith(":"):
        raise GitSkillError(f"path_glob {glob!r} is invalid: give a glob such as configs/**/*.yaml")
    return check_path(glob)


def path_allowed(path: str, globs: tuple[str, ...]) -> bool:
    """'**' spans directories, '*' and '?' stay within one path segment (`core.globs`)."""
    return matches(path, globs)
