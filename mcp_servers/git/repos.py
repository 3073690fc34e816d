"""The configured repositories and the git plumbing the tools share.

Nothing here touches a working tree: reads go through objects, and changes are
built in a throwaway index file, so a person's checkout of the same clone is
never disturbed.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO

import git
from gitdb import IStream

from .config import RepoConfig
from .errors import GitSkillError
from .safety import check_rev

NETWORK_TIMEOUT_S = 120.0
# Reads of the branch fetch first, at most this often: fresh enough, without a round
# trip per call.
REFRESH_S = 30.0
# Never wait on a password prompt: credentials come from the environment or not at all.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


class GitRepos:
    """The injected client the tool functions work on: only the configured repos."""

    def __init__(self, configs: dict[str, RepoConfig]) -> None:
        self.configs = dict(configs)
        self._locks = {name: threading.RLock() for name in configs}
        self._fetched: dict[str, float] = {}

    def config(self, name: str) -> RepoConfig:
        if name not in self.configs:
            raise GitSkillError(f"unknown repo {name!r}; configured repos: {sorted(self.configs)}")
        return self.configs[name]

    def open(self, name: str) -> git.Repo:
        path = self.config(name).path
        try:
            return git.Repo(path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise GitSkillError(f"repo {name!r}: {path} is not a git clone") from None

    @contextmanager
    def locked(self, name: str) -> Iterator[git.Repo]:
        """One fetch/apply/push at a time per repo within this process."""
        with self._locks[name], self.open(name) as repo:
            yield repo

    def tracking_ref(self, name: str) -> str:
        cfg = self.config(name)
        return f"refs/remotes/{cfg.remote}/{cfg.branch}"

    def fetch(self, name: str, repo: git.Repo) -> str:
        """Update the remote-tracking ref of the configured branch; return its commit."""
        cfg = self.config(name)
        # '+' on a *fetch* refspec only lets our tracking ref follow the remote if it was
        # rewound; pushes never force.
        refspec = f"+refs/heads/{cfg.branch}:{self.tracking_ref(name)}"
        try:
            repo.git.fetch(
                "--no-tags",
                "--quiet",
                cfg.remote,
                refspec,
                env=NO_PROMPT,
                kill_after_timeout=NETWORK_TIMEOUT_S,
            )
        except git.GitCommandError as exc:
            raise GitSkillError(f"fetch from {cfg.remote} failed: {stderr_of(exc)}") from None
        self._fetched[name] = time.monotonic()
        return repo.commit(self.tracking_ref(name)).hexsha

    def refresh(self, name: str, repo: git.Repo) -> None:
        """Fetch unless that happened in the last REFRESH_S seconds."""
        with self._locks[name]:
            if time.monotonic() - self._fetched.get(name, -REFRESH_S) >= REFRESH_S:
                self.fetch(name, repo)

    def resolve(self, name: str, repo: git.Repo, rev: str | None) -> git.Commit:
        """A commit; None means the configured branch, fetched if not fetched recently."""
        if rev is None:
            try:
                self.refresh(name, repo)
            except GitSkillError as exc:
                cfg = self.config(name)
                raise GitSkillError(
                    f"{exc}; to read the last fetched state pass rev='{cfg.remote}/{cfg.branch}'"
                ) from None
        target = self.tracking_ref(name) if rev is None else check_rev(rev)
        try:
            return repo.commit(target)
        except (git.BadName, ValueError, git.GitCommandError):
            hint = f"e.g. {self.config(name).remote}/{self.config(name).branch}, HEAD~1 or a sha"
            raise GitSkillError(f"unknown revision {target!r} in {name!r}; {hint}") from None


def blob_at(commit: git.Commit, path: str) -> git.Blob | None:
    try:
        obj = commit.tree / path
    except KeyError:
        return None
    if not isinstance(obj, git.Blob):
        raise GitSkillError(f"{path!r} is a directory at {commit.hexsha[:10]}, not a file")
    return obj


def store_blob(repo: git.Repo, data: bytes) -> str:
    return repo.odb.store(IStream("blob", len(data), BytesIO(data))).hexsha.decode()


@contextmanager
def scratch_index(repo: git.Repo, commit: str) -> Iterator[dict[str, str]]:
    """A throwaway index holding `commit`'s tree; yields the env that selects it."""
    fd, index = tempfile.mkstemp(prefix="mlops-git-index-")
    os.close(fd)
    os.unlink(index)  # git wants to create it itself
    env = {"GIT_INDEX_FILE": index}
    try:
        repo.git.read_tree(commit, env=env)
        yield env
    finally:
        if os.path.exists(index):
            os.unlink(index)


def stderr_of(exc: git.GitCommandError) -> str:
    """git's own complaint, without GitPython's framing; the tail if it is long."""
    text = str(exc.stderr or exc).strip()
    text = text.replace("stderr: ", "").strip(" '\n")
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())[-500:]
