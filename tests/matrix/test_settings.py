"""MLOPS_CHAT=matrix and the MATRIX_* settings: what is missing is named at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import SettingsError, load_settings

FULL = {
    "MLOPS_CHAT": "matrix",
    "MATRIX_HOMESERVER": "https://matrix.example.org/",
    "MATRIX_USER_ID": "@mlops-bot:example.org",
    "MATRIX_ACCESS_TOKEN": "syt_secret",
    "MATRIX_NOTIFY_ROOM": "#ops:example.org",
}


def env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_matrix_settings_come_from_matrix_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, FULL)
    s = load_settings(_env_file=None)
    assert s.chat_kind == "matrix"
    assert s.matrix_homeserver == "https://matrix.example.org"
    assert (s.matrix_user_id, s.matrix_access_token, s.matrix_notify_room) == (
        "@mlops-bot:example.org",
        "syt_secret",
        "#ops:example.org",
    )


def test_matrix_without_its_settings_fails_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, {"MLOPS_CHAT": "matrix", "MATRIX_USER_ID": "@bot:example.org"})
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    assert "MLOPS_CHAT=matrix needs MATRIX_HOMESERVER, MATRIX_ACCESS_TOKEN" in message
    assert "MATRIX_PASSWORD" in message and "MATRIX_NOTIFY_ROOM" in message
    assert "MATRIX_USER_ID" not in message.split("needs")[1]


def test_a_password_stands_in_for_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    env(monkeypatch, {**FULL, "MATRIX_ACCESS_TOKEN": "", "MATRIX_PASSWORD": "hunter2"})
    monkeypatch.delenv("MATRIX_ACCESS_TOKEN")
    assert load_settings(_env_file=None).matrix_password == "hunter2"


def test_the_token_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("syt_from_file\n")
    env(monkeypatch, {**FULL, "MATRIX_ACCESS_TOKEN_FILE": str(tmp_path / "token")})
    monkeypatch.delenv("MATRIX_ACCESS_TOKEN")
    assert load_settings(_env_file=None).matrix_access_token == "syt_from_file"


def test_an_unreadable_token_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env(monkeypatch, {**FULL, "MATRIX_ACCESS_TOKEN_FILE": str(tmp_path / "nope")})
    monkeypatch.delenv("MATRIX_ACCESS_TOKEN")
    with pytest.raises(SettingsError, match="MATRIX_ACCESS_TOKEN_FILE: cannot read .*nope"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MATRIX_USER_ID", "mlops-bot", "MATRIX_USER_ID: must be a full Matrix user id"),
        ("MATRIX_NOTIFY_ROOM", "ops", r"MATRIX_NOTIFY_ROOM: must be a room id \(!abc"),
        ("MATRIX_HOMESERVER", "matrix.example.org", "MATRIX_HOMESERVER: must be an http://"),
    ],
)
def test_a_malformed_matrix_setting_is_named_with_a_valid_example(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    env(monkeypatch, {**FULL, variable: value})
    with pytest.raises(SettingsError, match=expected):
        load_settings(_env_file=None)
