"""Building, committing and pushing exactly one stored diff.

All of it happens in scratch indexes and object storage, never in a working
tree. The push names one refspec built here from the configuration: no '+',
no --force, no deletion, so a remote that moved on refuses instead of being
overwritten.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import git

from .config import RepoConfig
from .errors import GitSkillError
from .repos import NETWORK_TIMEOUT_S, NO_PROMPT, scratch_index, stderr_of, store_blob

DIFF_FLAGS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    # Fixed prefixes: a user's diff.noprefix/mnemonicPrefix must not change what we store.
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


class DiffDoesNotApply(GitSkillError):
    """The stored diff does not apply to the branch head any more."""


def make_diff(repo: git.Repo, base: str, path: str, content: bytes, mode: int) -> str:
    """The unified diff that turns `path` at `base` into `content`."""
    blob = store_blob(repo, content)
    with scratch_index(repo, base) as env:
        repo.git.update_index("--add", "--cacheinfo", f"{mode:o},{blob},{path}", env=env)
        tree = repo.git.write_tree(env=env)
    return str(repo.git.diff(*DIFF_FLAGS, base, tree, "--", path, strip_newline_in_stdout=False))


def commit_diff(
    repo: git.Repo, head: str, diff: str, path: str, message: str, author: tuple[str, str]
) -> str:
    """Apply `diff` on top of `head` and commit it as `author`; return the new commit's sha."""
    with _temp_file(diff) as patch, scratch_index(repo, head) as env:
        try:
            repo.git.apply("--cached", "--check", "--whitespace=nowarn", patch, env=env)
        except git.GitCommandError as exc:
            raise DiffDoesNotApply(stderr_of(exc)) from None
        repo.git.apply("--cached", "--whitespace=nowarn", patch, env=env)
        tree = repo.git.write_tree(env=env)
    # The diff is ours and MAC-protected; still, a commit that touches any other path is refused.
    changed = repo.git.diff("--name-only", "--no-renames", head, tree, "--").splitlines()
    if changed != [path]:
        raise GitSkillError(f"the stored diff changes {changed}, not only {path!r}: refused")
    name, email = author
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    with _temp_file(message) as message_file:
        sha = repo.git.commit_tree(
            tree, "-p", head, "--no-gpg-sign", "-F", message_file, env=identity
        )
    return str(sha).strip()


def push(repo: git.Repo, cfg: RepoConfig, commit: str) -> None:
    """Fast-forward the configured branch to `commit`, or raise with git's reason."""
    refspec = f"{commit}:refs/heads/{cfg.branch}"
    # Built here from hex + the configured branch: it can never start with '+' (force)
    # or be empty on the left (delete).
    if len(commit) != 40 or refspec.startswith(("+", ":")):
        raise GitSkillError(f"refusing to push refspec {refspec!r}")
    try:
        repo.git.push(
            "--porcelain", cfg.remote, refspec, env=NO_PROMPT, kill_after_timeout=NETWORK_TIMEOUT_S
        )
    except git.GitCommandError as exc:
        raise GitSkillError(
            f"push to {cfg.remote} {cfg.branch} refused: {stderr_of(exc)}"
        ) from None


@contextmanager
def _temp_file(text: str) -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="mlops-git-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        yield path
    finally:
        os.unlink(path)
