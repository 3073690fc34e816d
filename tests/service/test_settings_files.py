"""Secrets from files: every secret setting has a `*_FILE` twin (container secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.service.skills import skill_environment
from agent.settings import SECRET_VARIABLES, SettingsError, load_settings

VALUES = {
    "slack_bot_token": "xoxb-from-a-file",
    "slack_app_token": "xapp-from-a-file",
    "slack_signing_secret": "signing-from-a-file",
    "model_api_key": "sk-from-a-file",
    "webhook_secret": "whsec_ZnJvbS1hLWZpbGUtZnJvbS1hLWZpbGU=",
}


def secret_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.mark.parametrize("field", sorted(SECRET_VARIABLES))
def test_each_secret_reads_from_its_file_without_the_trailing_newline(
    field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = SECRET_VARIABLES[field]
    path = secret_file(tmp_path, field, VALUES[field] + "\n")
    monkeypatch.setenv(f"{variable}_FILE", str(path))
    settings = load_settings(_env_file=None)
    assert getattr(settings, field) == VALUES[field]


def test_the_file_twins_are_the_variables_names_with_file(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {f"{v}_FILE" for v in SECRET_VARIABLES.values()} == {
        "SLACK_BOT_TOKEN_FILE",
        "SLACK_APP_TOKEN_FILE",
        "SLACK_SIGNING_SECRET_FILE",
        "MLOPS_MODEL_API_KEY_FILE",
        "MLOPS_WEBHOOK_SECRET_FILE",
    }


def test_a_secret_from_a_file_is_validated_like_one_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_WEBHOOK_SECRET_FILE", str(secret_file(tmp_path, "w", "plain\n")))
    with pytest.raises(SettingsError, match="MLOPS_WEBHOOK_SECRET: .*whsec_"):
        load_settings(_env_file=None)


def test_both_the_variable_and_its_file_set_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-in-the-environment")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(secret_file(tmp_path, "b", "xoxb-in-a-file")))
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE"):
        load_settings(_env_file=None)


def test_an_unreadable_file_names_the_variable_and_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("MLOPS_MODEL_API_KEY_FILE", str(missing))
    with pytest.raises(SettingsError, match=f"MLOPS_MODEL_API_KEY_FILE: cannot read {missing}"):
        load_settings(_env_file=None)


def test_a_file_outranks_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(secret_file(tmp_path, "b", "xoxb-file\n")))
    assert load_settings(_env_file=dotenv).slack_bot_token == "xoxb-file"


def test_the_model_keys_file_is_not_handed_to_the_skills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = secret_file(tmp_path, "k", "sk-from-a-file")
    monkeypatch.setenv("MLOPS_MODEL_API_KEY_FILE", str(path))
    settings = load_settings(_env_file=None, state_dir=tmp_path / "state")
    env = skill_environment(
        settings,
        tracking_uri=None,
        service_url="http://127.0.0.1:1",
        webhook_secret=VALUES["webhook_secret"],
        ledger_key_file=tmp_path / "key",
    ).to_env()
    assert "MLOPS_MODEL_API_KEY_FILE" not in env
    assert not any("sk-from-a-file" in value for value in env.values())


def test_the_generated_webhook_secret_is_created_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Created 0600 in one step (an exclusive create with that mode): never, for a moment,
    readable by others, whatever the umask. A second start reads it, never rewrites it."""
    import os
    import stat
    import sys

    from agent.service import webhook_secret

    path = tmp_path / "webhook_secret"
    opened: list[int] = []

    def watch(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and args and str(args[0]) == str(path) and isinstance(args[2], int):
            opened.append(args[2])

    sys.addaudithook(watch)
    old = os.umask(0)
    try:
        secret = webhook_secret(load_settings(_env_file=None, state_dir=tmp_path))
    finally:
        os.umask(old)
    assert secret.startswith("whsec_") and path.read_text() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creating = [f for f in opened if f & os.O_CREAT]
    assert creating and all(f & os.O_EXCL for f in creating)
    assert webhook_secret(load_settings(_env_file=None, state_dir=tmp_path)) == secret
