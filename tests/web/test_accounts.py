"""Web users: password hashes, the users list and file, who may talk and who may approve."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from agent import cli
from agent.accounts.users import (
    OPERATOR,
    WebUser,
    hash_password,
    read_users_file,
    verify_password,
)
from agent.settings import SettingsError, load_settings
from agent.web.page import exposure_warning, with_first_operator


def settings(tmp_path: Path, **values: object):
    return load_settings(_env_file=None, state_dir=tmp_path, **values)


def test_a_hash_verifies_its_password_only() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("scrypt$131072$8$1$")  # OWASP's scrypt parameters
    assert verify_password("correct horse", hashed)
    assert not verify_password("correct horse ", hashed)
    assert not verify_password("", hashed)
    assert hash_password("correct horse") != hashed  # a fresh salt each time


@pytest.mark.parametrize("hashed", [None, "", "plain-text", "scrypt$1$2$3$!!$!!", "md5$x"])
def test_no_hash_or_a_broken_one_never_verifies(hashed: str | None) -> None:
    assert not verify_password("anything", hashed)


def test_web_users_are_talkers_and_only_approvers_approve(tmp_path: Path) -> None:
    users = {
        "alice": {"password": hash_password("a"), "approver": True},
        "carol": {"password": hash_password("c")},
    }
    s = settings(tmp_path, web_users=json.dumps(users), allowed_users="U1")
    assert s.talkers == {"U1", "web:alice", "web:carol"}
    assert s.approvers == {"U1", "web:alice"}


def test_with_the_page_off_web_users_neither_talk_nor_approve(tmp_path: Path) -> None:
    users = {"alice": {"password": hash_password("a"), "approver": True}}
    s = settings(
        tmp_path, web_users=json.dumps(users), allowed_users="U1", web="off", slack_bot_token="x"
    )
    assert s.talkers == s.approvers == {"U1"}


def test_the_users_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "web_users.json").write_text(
        json.dumps({"alice": {"password": None, "approver": True}, "bob": {}})
    )
    env = {"alice": {"password": hash_password("a"), "approver": False}}
    s = settings(tmp_path, web_users=json.dumps(env))
    assert set(s.web_users) == {"alice", "bob"}
    assert s.web_users["alice"].approver is False  # the environment's alice


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "MLOPS_WEB_USERS: not JSON"),
        ('{"Alice": {}}', "invalid user name 'Alice'"),
        ('{"a": {"password": "hunter2"}}', "must be an scrypt hash made by `mlops-agent web-user`"),
        ('{"a": {"approve": true}}', "a.approve: Extra inputs are not permitted"),
    ],
)
def test_a_bad_users_list_names_what_is_wrong(tmp_path: Path, raw: str, message: str) -> None:
    with pytest.raises(SettingsError, match="MLOPS_WEB_USERS") as caught:
        settings(tmp_path, web_users=raw)
    assert message in str(caught.value)


def test_a_bad_users_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "web_users.json").write_text('{"bob": {"password": "plain"}}')
    with pytest.raises(SettingsError, match=r"users file .*web_users.json: user 'bob'"):
        settings(tmp_path)


def test_the_web_chat_needs_the_web_page(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="MLOPS_CHAT=web needs the web page: set MLOPS_WEB=on"):
        settings(tmp_path, chat="web", web="off")


def test_a_fresh_machine_gets_one_operator_who_approves(tmp_path: Path) -> None:
    s = with_first_operator(settings(tmp_path))
    assert s.web_users == {OPERATOR: WebUser(password=None, approver=True, admin=True)}
    assert "web:operator" in s.approvers
    assert read_users_file(tmp_path / "web_users.json") == s.web_users
    # Once anyone exists, nobody is added.
    again = with_first_operator(settings(tmp_path))
    assert again.web_users == s.web_users


def test_no_operator_when_the_page_is_off(tmp_path: Path) -> None:
    s = with_first_operator(settings(tmp_path, web="off", slack_bot_token="x"))
    assert s.web_users == {}
    assert not (tmp_path / "web_users.json").exists()


def test_the_cli_writes_a_hash_readable_by_the_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", _Stdin("s3cret-pass\n"))
    assert cli.main(["web-user", "alice", "--approver", "--password-stdin"]) == 0
    assert "added web user alice (approver)" in capsys.readouterr().out
    path = tmp_path / "web_users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = read_users_file(path)
    assert users["alice"].approver and verify_password("s3cret-pass", users["alice"].password)
    assert "s3cret-pass" not in path.read_text()

    # A new password keeps the role unless told otherwise.
    monkeypatch.setattr("sys.stdin", _Stdin("other-pass\n"))
    assert cli.main(["web-user", "alice", "--password-stdin"]) == 0
    assert read_users_file(path)["alice"].approver


def test_the_cli_refuses_a_bad_name_and_an_empty_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", _Stdin("pw\n"))
    assert cli.main(["web-user", "Bad Name", "--password-stdin"]) == 2
    assert "invalid user name 'Bad Name'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", _Stdin("\n"))
    assert cli.main(["web-user", "bob", "--password-stdin"]) == 2
    assert "the password is empty" in capsys.readouterr().err
    assert not (tmp_path / "web_users.json").exists()


def test_the_page_warns_when_it_listens_beyond_this_machine() -> None:
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "TLS" in warning and "0.0.0.0" in warning


def test_web_users_hashes_never_reach_a_skill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.service.skills import skill_environment

    users = json.dumps({"alice": {"password": hash_password("a"), "approver": True}})
    monkeypatch.setenv("MLOPS_WEB_USERS", users)
    s = settings(tmp_path)
    env = skill_environment(
        s,
        tracking_uri=None,
        service_url="http://127.0.0.1:1",
        webhook_secret="whsec_x",
        ledger_key_file=tmp_path / "k",
    ).to_env()
    assert "MLOPS_WEB_USERS" not in env and not any("scrypt$" in v for v in env.values())
    assert env["MLOPS_ALLOWED_USERS"] == "web:alice"  # the gate's approvers


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text

    def isatty(self) -> bool:
        return False


def test_the_cli_makes_a_link_only_user_and_stores_only_the_link_s_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MLOPS_PUBLIC_URL", "https://agent.example.org")
    assert cli.main(["web-user", "dora", "--admin", "--link"]) == 0
    out = capsys.readouterr().out
    assert "added web user dora (may talk, not approve, admin)" in out
    url = out.split()[out.split().index("day):") + 1]
    assert url.startswith("https://agent.example.org/login/once?token=")
    assert read_users_file(tmp_path / "web_users.json")["dora"] == WebUser(admin=True)
    token = url.split("token=", 1)[1]
    conn = sqlite3.connect(tmp_path / "service.sqlite")
    try:
        rows = conn.execute("SELECT token_hash, user FROM web_links").fetchall()
    finally:
        conn.close()
    assert len(rows) == 1 and rows[0][1] == "dora" and token not in rows[0][0]
