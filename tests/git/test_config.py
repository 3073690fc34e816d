from __future__ import annotations

from pathlib import Path

import pytest

from core.ledger import Ledger, LedgerError
from core.skill_env import SkillEnvironment
from mcp_servers.git.config import ConfigError, parse_repos
from mcp_servers.git.safety import path_allowed
from mcp_servers.git.skill import GitSkill

REPOS = '{"vision": {"path": "/srv/vision", "allow": ["configs/**"]}}'


def skill_from(env: dict[str, str]) -> GitSkill:
    """The skill as `python -m mcp_servers git` builds it from its environment."""
    return GitSkill.from_env(SkillEnvironment.from_env(env))


def test_settings_from_env_with_defaults(tmp_path: Path) -> None:
    Ledger(tmp_path / "ledger.sqlite", Ledger.create_key(tmp_path / "ledger.key"))
    env = {
        "MLOPS_GIT_REPOS": REPOS,
        "MLOPS_STATE_DIR": str(tmp_path),
        "MLOPS_ALLOWED_USERS": "U1, U2",
    }
    s = skill_from(env)
    contract = SkillEnvironment.from_env(env)
    vision = s.repos.config("vision")
    assert vision.remote == "origin" and vision.branch == "main"
    assert contract.key_file == tmp_path / "ledger.key"
    assert s.proposals.ledger.path == tmp_path / "ledger.sqlite"
    assert s.proposals.approvers == frozenset({"U1", "U2"})
    assert s.author == ("mlops-agent", "mlops-agent@localhost")
    assert contract.proposal_ttl_s == 86400


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "MLOPS_GIT_REPOS: .*e.g. "),
        ("{}", "non-empty JSON object"),
        ('{"v": {"path": "/x", "branch": "-f"}}', "not a plain git name"),
        ('{"v": {"path": "/x", "remote": "+origin"}}', "not a plain git name"),
        ('{"v": {"path": "/x", "push": "anything"}}', "Extra inputs are not permitted"),
        ('{"../v": {"path": "/x"}}', "repo name"),
    ],
)
def test_bad_repo_settings_name_the_variable(text: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_repos(text)


def test_missing_variables_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MLOPS_GIT_REPOS is not set"):
        skill_from({"MLOPS_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="MLOPS_STATE_DIR is not set"):
        skill_from({"MLOPS_GIT_REPOS": REPOS})
    with pytest.raises(ConfigError, match="MLOPS_GIT_AUTHOR: .* is not 'Name <email>'"):
        skill_from(
            {"MLOPS_GIT_REPOS": REPOS, "MLOPS_STATE_DIR": str(tmp_path), "MLOPS_GIT_AUTHOR": "bot"}
        )


def test_the_skill_never_creates_its_own_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no guard ledger at .*start the service first"):
        skill_from({"MLOPS_GIT_REPOS": REPOS, "MLOPS_STATE_DIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("configs/train.yaml", True),
        ("configs/a/b/c.yaml", True),
        ("configs", False),
        ("configsX/train.yaml", False),
        ("src/configs/train.yaml", False),
    ],
)
def test_allow_globs(path: str, allowed: bool) -> None:
    assert path_allowed(path, ("configs/**",)) is allowed
    assert path_allowed("configs/x/train.yaml", ("configs/*/train.yaml",))
    assert not path_allowed("configs/x/y/train.yaml", ("configs/*/train.yaml",))
