"""Training repos: a bare remote and the clone the git skill works in, reset per scenario.

A scenario's files become one root commit on the remote's `main` (written with
`git fast-import`: one process, however many files); the skill's clone then
fetches it, so the skill reads the new tree at once. Reading the remote's refs
before and after a step is how a write that reached it is seen.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from evals.errors import SetupError

BRANCH = "main"
IDENTITY = "Eval Setup <eval@localhost>"


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise SetupError(f"git {' '.join(args[:3])} failed: {done.stderr.decode().strip()}")
    return done.stdout.decode()


@dataclass(frozen=True)
class Repo:
    name: str
    bare: Path
    clone: Path
    allow: tuple[str, ...]

    @classmethod
    def create(cls, root: Path, name: str, allow: tuple[str, ...]) -> Repo:
        bare, clone = root / name / "remote.git", root / name / "clone"
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "-b", BRANCH, str(bare))
        repo = cls(name, bare, clone, allow)
        repo.reset({"README.md": f"# {name}\n"}, "Initial commit")
        git("clone", "--quiet", str(bare), str(clone))
        return repo

    def settings(self) -> dict[str, object]:
        """This repo's entry in MLOPS_GIT_REPOS."""
        return {
            "path": str(self.clone),
            "remote": "origin",
            "branch": BRANCH,
            "allow": list(self.allow),
        }

    def reset(self, files: dict[str, str], message: str) -> None:
        """Make `main` one root commit holding exactly `files`, and let the clone see it."""
        now = int(time.time())
        stream = [f"reset refs/heads/{BRANCH}", f"commit refs/heads/{BRANCH}"]
        stream += [f"committer {IDENTITY} {now} +0000", *_data(message)]
        for path, content in sorted(files.items()):
            stream += [f"M 100644 inline {path}", *_data(content)]
        git("--git-dir", str(self.bare), "fast-import", "--quiet", "--force", stdin=_encode(stream))
        for ref in self.refs():
            if ref != f"refs/heads/{BRANCH}":  # a branch some earlier run left behind
                git("--git-dir", str(self.bare), "update-ref", "-d", ref)
        if self.clone.exists():
            git(
                "fetch",
                "--quiet",
                "--prune",
                "origin",
                f"+refs/heads/{BRANCH}:refs/remotes/origin/{BRANCH}",
                cwd=self.clone,
            )

    def refs(self) -> dict[str, str]:
        out = git("--git-dir", str(self.bare), "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def commits_since(self, before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str]]:
        """(sha, its `Proposal:` trailer or "") of every commit that reached the remote."""
        found: list[tuple[str, str]] = []
        for ref, head in after.items():
            if before.get(ref) == head:
                continue
            span = [head] + ([f"^{before[ref]}"] if ref in before else [])
            log = git(
                "--git-dir",
                str(self.bare),
                "log",
                "--format=%H%x00%(trailers:key=Proposal,valueonly)%x00",
                *span,
                "--",
            )
            for record in log.split("\x00\n"):
                sha, _, proposal = record.strip("\n").partition("\x00")
                if sha:
                    found.append((sha, proposal.strip("\x00").strip()))
        return found


def _data(text: str) -> list[str]:
    raw = text.encode()
    return [f"data {len(raw)}", text]


def _encode(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()
