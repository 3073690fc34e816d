from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.git.config import ConfigError, parse_repos, settings_from_env
from mcp_servers.git.safety import path_allowed
from mcp_servers.git.skill import make_skill

REPOS = '{"vision": {"path": "/srv/vision", "allow": ["configs/**"]}}'


def test_settings_from_env_with_defaults(tmp_path: Path) -> None:
    env = {
        "MLOPS_GIT_REPOS": REPOS,
        "MLOPS_STATE_DIR": str(tmp_path),
        "MLOPS_ALLOWED_USERS": "U1, U2",
    }
    s = settings_from_env(env)
    assert s.repos["vision"].remote == "origin" and s.repos["vision"].branch == "main"
    assert s.key_file == tmp_path / "ledger.key"
    assert s.allowed_users == frozenset({"U1", "U2"})
    assert (s.author_name, s.author_email) == ("mlops-agent", "mlops-agent@localhost")
    assert s.proposal_ttl_s == 86400


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
        settings_from_env({"MLOPS_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="MLOPS_STATE_DIR is not set"):
        settings_from_env({"MLOPS_GIT_REPOS": REPOS})
    with pytest.raises(ConfigError, match="MLOPS_GIT_AUTHOR: .* is not 'Name <email>'"):
        settings_from_env(
            {"MLOPS_GIT_REPOS": REPOS, "MLOPS_STATE_DIR": str(tmp_path), "MLOPS_GIT_AUTHOR": "bot"}
        )


def test_the_skill_never_creates_its_own_ledger(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no guard ledger at .*start the service first"):
        make_skill({"MLOPS_GIT_REPOS": REPOS, "MLOPS_STATE_DIR": str(tmp_path)})
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
