"""The training repository the stories propose changes to: a seeded bare remote and a clone
(the git skill's checkout), both real."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.git.conftest import git


@dataclass
class Remote:
    bare: Path
    clone: Path

    def refs(self) -> str:
        return git(self.bare, "for-each-ref", "--format=%(refname) %(objectname)")

    def head(self) -> str:
        return git(self.bare, "rev-parse", "refs/heads/main").strip()


def seed_remote(root: Path, files: dict[str, str]) -> Remote:
    """One commit of `files` (path → text) on `main` in a bare remote, and a clone of it."""
    seed = root / "seed"
    for path, text in files.items():
        (seed / path).parent.mkdir(parents=True, exist_ok=True)
        (seed / path).write_text(text)
    git(seed, "init", "--quiet", "-b", "main")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "Training setup")
    bare, clone = root / "remote.git", root / "clone"
    git(root, "clone", "--quiet", "--bare", str(seed), str(bare))
    git(root, "clone", "--quiet", str(bare), str(clone))
    return Remote(bare, clone)
