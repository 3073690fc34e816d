"""A real bare remote with a clone of it, the guard ledger, and the git skill over them."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.ledger import Ledger
from core.proposals import GatedProposals
from mcp_servers.git.config import RepoConfig
from mcp_servers.git.repos import GitRepos
from mcp_servers.git.skill import GitSkill
from mcp_servers.registry import proposal_words
from tests.ledger.conftest import Clock

ALICE, MALLORY = "U_ALICE", "U_MALLORY"
TRAIN_YAML = "model: yolov8s\nimage_size: 1280\nbatch: 16\nepochs: 100\n"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Dana Dev",
    "GIT_AUTHOR_EMAIL": "dana@example.com",
    "GIT_COMMITTER_NAME": "Dana Dev",
    "GIT_COMMITTER_EMAIL": "dana@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout


@dataclass
class Remote:
    bare: Path
    clone: Path
    other: Path  # someone else's clone, for pushing behind the agent's back

    def refs(self) -> str:
        return git(self.bare, "for-each-ref", "--format=%(refname) %(objectname)")

    def head(self, branch: str = "main") -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}").strip()

    def push_other_change(self, path: str, content: str, message: str) -> str:
        git(self.other, "pull", "--quiet", "--ff-only")
        target = self.other / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        git(self.other, "add", path)
        git(self.other, "commit", "--quiet", "-m", message)
        git(self.other, "push", "--quiet", "origin", "HEAD:main")
        return self.head()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet", "-b", "main")
    (seed / "configs").mkdir()
    (seed / "configs/train.yaml").write_text(TRAIN_YAML.replace("1280", "640"))
    (seed / "src").mkdir()
    (seed / "src/train.py").write_text("import yaml\n\ndef main():\n    pass\n")
    (seed / "README.md").write_text("# vision\n")
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "Initial training setup")
    (seed / "configs/train.yaml").write_text(TRAIN_YAML)
    git(seed, "commit", "--quiet", "-am", "Try larger images")
    git(seed, "branch", "release")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(bare))
    clone, other = tmp_path / "clone", tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(bare), str(clone))
    git(tmp_path, "clone", "--quiet", str(bare), str(other))
    return Remote(bare, clone, other)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(state_dir: Path, clock: Clock) -> Ledger:
    key = Ledger.create_key(state_dir / "ledger.key")
    return Ledger(state_dir / "ledger.sqlite", key, clock=clock)


def make_skill(remote: Remote, ledger: Ledger, **repo: object) -> GitSkill:
    cfg = RepoConfig.model_validate({"path": remote.clone, "allow": ["configs/**"], **repo})
    return GitSkill(
        GitRepos({"vision": cfg}),
        GatedProposals(ledger, frozenset({ALICE}), kinds=proposal_words()),
    )


@pytest.fixture
def skill(remote: Remote, ledger: Ledger) -> GitSkill:
    return make_skill(remote, ledger)


class Conversation:
    """Turns as the supervisor records them: each call is the next turn."""

    def __init__(self, ledger: Ledger, key: str = "job:pcb-inspect") -> None:
        self.ledger, self.key = ledger, key

    def turn(self, source: str = "chat", sender: str = ALICE) -> str:
        return self.ledger.record_turn(self.key, source, sender).turn_id


@pytest.fixture
def conv(ledger: Ledger) -> Conversation:
    return Conversation(ledger)
