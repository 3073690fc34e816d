"""The generated opencode config and the process environment, without starting opencode."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from agent.opencode.config import AGENT_NAME, McpServerSpec, build_config
from agent.opencode.errors import OpencodeStartError
from agent.opencode.process import OpencodeProcess


def _config(tmp_path: Path, servers: list[McpServerSpec] | None = None) -> dict[str, object]:
    return build_config(
        base_url="http://127.0.0.1:8000/v1/",
        model_id="qwen3-32b",
        api_key="sk-local",
        context=32_768,
        max_output=4_096,
        prompt_file=tmp_path / "brief.md",
        mcp_servers=servers
        if servers is not None
        else [
            McpServerSpec("aiqu", ["python", "-m", "mcp_servers.aiqu"], {"A": "1"}),
            McpServerSpec("mlflow", ["python", "-m", "mcp_servers.mlflow"]),
        ],
    )


def test_permission_denies_everything_but_the_skill_prefixes(tmp_path: Path) -> None:
    agent = _config(tmp_path)["agent"][AGENT_NAME]  # type: ignore[index]
    # Order matters (last match wins): the bare deny must come first.
    assert list(agent["permission"].items()) == [
        ("*", "deny"),
        ("aiqu_*", "allow"),
        ("mlflow_*", "allow"),
        ("doom_loop", "allow"),  # a question opencode asks, not a tool
    ]


def test_agent_prompt_is_the_brief_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    agent = config["agent"][AGENT_NAME]  # type: ignore[index]
    assert agent["prompt"] == "{file:" + str((tmp_path / "brief.md").resolve()) + "}"
    assert agent["mode"] == "primary"
    assert config["default_agent"] == AGENT_NAME


def test_one_provider_with_the_model_and_its_limits(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config["enabled_providers"] == ["local"]
    local = config["provider"]["local"]  # type: ignore[index]
    assert local["npm"] == "@ai-sdk/openai-compatible"
    assert local["options"]["baseURL"] == "http://127.0.0.1:8000/v1"
    assert local["options"]["apiKey"] == "sk-local"
    assert local["models"]["qwen3-32b"]["limit"] == {"context": 32_768, "output": 4_096}
    assert local["models"]["qwen3-32b"]["tool_call"] is True


def test_a_model_request_may_take_as_long_as_its_turn(tmp_path: Path) -> None:
    """opencode's own 300 s limits on the response headers and between stream chunks would
    cancel a CPU model's first prompt and send it again; each comes from the turn's time."""
    config = build_config(
        base_url="http://127.0.0.1:8000/v1",
        model_id="m",
        api_key="none",
        context=16_384,
        max_output=1_024,
        prompt_file=tmp_path / "brief.md",
        mcp_servers=[],
        temperature=0.1,
        request_timeout_s=930,
    )
    options = config["provider"]["local"]["options"]  # type: ignore[index]
    assert (options["timeout"], options["headerTimeout"], options["chunkTimeout"]) == (
        930_000,
        930_000,
        930_000,
    )
    assert config["agent"][AGENT_NAME]["temperature"] == 0.1  # type: ignore[index]
    assert config["provider"]["local"]["models"]["m"]["limit"]["output"] == 1_024  # type: ignore[index]


def test_mcp_servers_are_local_commands(tmp_path: Path) -> None:
    mcp = _config(tmp_path)["mcp"]
    assert mcp["aiqu"] == {  # type: ignore[index]
        "type": "local",
        "command": ["python", "-m", "mcp_servers.aiqu"],
        "environment": {"A": "1"},
        "enabled": True,
        "timeout": 30_000,
    }


def test_nothing_reaches_out(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert (config["snapshot"], config["share"], config["autoupdate"]) == (False, "disabled", False)
    assert config["instructions"] == []


def test_a_server_name_opencode_would_rewrite_is_refused() -> None:
    # opencode turns "my.skill" into tool prefix "my_skill_", so "my.skill_*" would never match.
    with pytest.raises(ValueError, match="letters, digits or '-'"):
        McpServerSpec("my.skill", ["python"])


def test_a_server_without_a_command_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a command"):
        McpServerSpec("aiqu", [])


def test_duplicate_server_names_are_refused(tmp_path: Path) -> None:
    twice = [McpServerSpec("aiqu", ["a"]), McpServerSpec("aiqu", ["b"])]
    with pytest.raises(ValueError, match="unique"):
        _config(tmp_path, twice)


def test_process_environment_is_isolated_and_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-elsewhere")
    proc = OpencodeProcess(binary=Path("/bin/true"), state_dir=tmp_path, config={})

    env = proc.environment()

    assert "SLACK_BOT_TOKEN" not in env and "OPENAI_API_KEY" not in env
    root = tmp_path.resolve() / "opencode"
    for key in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert Path(env[key]).is_relative_to(root), key
    assert env["OPENCODE_DISABLE_PROJECT_CONFIG"] == "1"
    assert env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"
    assert len(env["OPENCODE_SERVER_PASSWORD"]) >= 32


def test_each_process_gets_its_own_password(tmp_path: Path) -> None:
    a = OpencodeProcess(binary=Path("/bin/true"), state_dir=tmp_path, config={})
    b = OpencodeProcess(binary=Path("/bin/true"), state_dir=tmp_path, config={})
    assert a.password != b.password


async def test_config_file_is_owner_only(tmp_path: Path) -> None:
    proc = OpencodeProcess(binary=Path("/bin/true"), state_dir=tmp_path, config={"x": 1})
    with pytest.raises(OpencodeStartError):
        await proc.start()  # /bin/true exits at once, after the config was written
    mode = (tmp_path / "opencode" / "opencode.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


async def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    proc = OpencodeProcess(binary=tmp_path / "nope", state_dir=tmp_path, config={})
    with pytest.raises(OpencodeStartError, match="make install"):
        await proc.start()


async def test_a_process_that_exits_early_reports_its_output(tmp_path: Path) -> None:
    script = tmp_path / "fake-opencode"
    script.write_text(
        f"#!{sys.executable}\nprint('config is broken: bad key'); raise SystemExit(3)\n"
    )
    script.chmod(0o755)
    proc = OpencodeProcess(binary=script, state_dir=tmp_path, config={})
    with pytest.raises(OpencodeStartError, match="config is broken: bad key"):
        await proc.start()
    assert not proc.running


async def test_a_silent_process_times_out_and_is_stopped(tmp_path: Path) -> None:
    script = tmp_path / "fake-opencode"
    script.write_text(f"#!{sys.executable}\nimport time; time.sleep(60)\n")
    script.chmod(0o755)
    proc = OpencodeProcess(binary=script, state_dir=tmp_path, config={}, startup_timeout_s=0.5)
    with pytest.raises(OpencodeStartError, match="timed out"):
        await proc.start()
    assert proc.pid is not None and not proc.running
    await asyncio.sleep(0)
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
