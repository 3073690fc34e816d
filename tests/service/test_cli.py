"""The CLI as a person uses it: real subprocesses, real exit codes, real messages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from agent.engine.brief import load_brief
from agent.engine.db import Database
from agent.engine.inbox import Inbox
from agent.intake.webhook import TrainingHook
from agent.service.app import build_app
from agent.settings import SettingsError, load_settings, new_webhook_secret
from tests.conftest import ROOT, free_port
from tests.fakes import slack as fake_slack
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "SLACK_"))}
    env.update(extra)
    return env


async def cli(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None):
    """Run `python -m agent …` without blocking the loop (fakes serve from this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        *args,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_invalid_setting_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    code, _, err = await cli("serve", env=clean_env(MLOPS_PORT="eighty"), cwd=tmp_path)
    assert code == 2 and "MLOPS_PORT" in err
    code, _, err = await cli("serve", env=clean_env(MLOPS_WEBHOOK_SECRET="hunter2"), cwd=tmp_path)
    assert code == 2 and "MLOPS_WEBHOOK_SECRET" in err and "whsec_" in err
    code, _, err = await cli("serve", env=clean_env(MLOPS_DIGEST_TIME="7.30am"), cwd=tmp_path)
    assert code == 2 and "MLOPS_DIGEST_TIME" in err and "HH:MM" in err
    code, _, err = await cli("serve", env=clean_env(MLOPS_TIMEZONE="Mars/Olympus"), cwd=tmp_path)
    assert code == 2 and "MLOPS_TIMEZONE" in err and "IANA" in err


async def test_serve_without_the_embedded_model_says_how_to_install_it(tmp_path: Path) -> None:
    code, _, err = await cli("serve", env=clean_env(), cwd=tmp_path)
    assert code == 2
    assert "Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) is not installed in .models" in err
    for needed in ("make run", "python -m agent.model install embedded", "MLOPS_MODEL_BASE_URL"):
        assert needed in err


async def test_serve_refuses_a_model_name_without_its_endpoint(tmp_path: Path) -> None:
    code, _, err = await cli("serve", env=clean_env(MLOPS_MODEL="qwen2.5:32b"), cwd=tmp_path)
    assert code == 2
    assert "MLOPS_MODEL=qwen2.5:32b needs MLOPS_MODEL_BASE_URL" in err
    assert "embedded or embedded-small" in err


async def test_doctor_on_a_fresh_machine_fails_only_for_the_missing_model(tmp_path: Path) -> None:
    """Nothing configured, nothing installed: the web page is the chat (no Slack needed) and
    the default datasets root may not exist yet; only the model `make run` installs is missing."""
    code, out, _ = await cli("doctor", env=clean_env(MLOPS_STATE_DIR=str(tmp_path)), cwd=tmp_path)
    assert code == 1
    lines = {line.split()[1]: line for line in out.splitlines()}
    assert lines["model"].startswith("FAIL") and "not installed" in lines["model"]
    assert "python -m agent.model install embedded" in lines["model"]
    failed = [line for name, line in lines.items() if name != "model" and line.startswith("FAIL")]
    assert failed == []
    assert "the web page is the chat" in lines["slack"]
    assert "does not exist yet" in lines["datasets"]


async def test_doctor_passes_when_everything_answers(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    slack = FakeSlack()
    await slack.start()
    try:
        with ScriptedModel() as model:
            env = clean_env(
                MLOPS_STATE_DIR=str(tmp_path / "state"),
                MLOPS_MODEL_BASE_URL=model.base_url,
                MLOPS_MODEL=model.model_id,
                MLOPS_SLACK_API_URL=slack.api_url,
                SLACK_BOT_TOKEN=fake_slack.BOT_TOKEN,
                SLACK_APP_TOKEN=fake_slack.APP_TOKEN,
                MLOPS_NOTIFY_CHANNEL="CNOTIFY",
                MLOPS_DATASETS_ROOT=str(tmp_path / "datasets"),
                MLOPS_LOCAL_GPUS="1",
            )
            code, out, _ = await cli("doctor", env=env, cwd=tmp_path)
    finally:
        await slack.stop()
    assert code == 0, out
    assert all(line.startswith("ok") for line in out.splitlines()), out
    assert "auth ok" in out and "scripted" in out
    brief = load_brief(ROOT / "brief", "<silent/>")
    assert f"sha256 {brief.digest}" in out  # the brief the service would run with


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[tuple[str, str, Inbox]]:
    """Just the webhook, served for real by uvicorn, for `emit` to talk to."""
    secret = new_webhook_secret()
    db = Database(tmp_path / "s.sqlite")
    await db.open()
    inbox = Inbox(db)
    await inbox.start()

    async def ready() -> dict[str, bool]:
        return {}

    port = free_port()
    app = build_app(TrainingHook(secret, inbox, 256 * 1024), ready)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", secret, inbox
    server.should_exit = True
    await task
    await inbox.stop()
    await db.close()


async def test_emit_sends_a_signed_event_with_metrics_and_traceback(intake, tmp_path) -> None:
    url, secret, inbox = intake
    code, out, err = await cli(
        "emit",
        "--job",
        "cust/pcb",
        "--type",
        "crashed",
        "--metric",
        "val_loss=0.5",
        "--field",
        "epoch=12",
        "--traceback",
        "-",
        "--url",
        url,
        env=clean_env(MLOPS_WEBHOOK_SECRET=secret),
        cwd=tmp_path,
        stdin="Traceback (most recent call last):\nRuntimeError: CUDA OOM\n",
    )
    assert code == 0, err
    (item,) = await inbox.lease("job:cust/pcb")
    assert item.payload["metrics"] == {"val_loss": 0.5} and item.payload["epoch"] == 12
    assert item.payload["traceback"].endswith("RuntimeError: CUDA OOM\n")


async def test_emit_with_wrong_secret_exits_non_zero_with_the_reason(intake, tmp_path) -> None:
    url, _, inbox = intake
    code, _, err = await cli(
        "emit",
        "--job",
        "a",
        "--type",
        "epoch",
        "--url",
        url,
        env=clean_env(MLOPS_WEBHOOK_SECRET=new_webhook_secret()),
        cwd=tmp_path,
    )
    assert code == 2 and "401" in err and "signature" in err
    assert await inbox.depth() == 0


async def test_emit_reads_the_secret_from_its_file_as_the_service_does(intake, tmp_path) -> None:
    url, secret, inbox = intake
    (tmp_path / "webhook_secret.txt").write_text(secret + "\n")
    code, _, err = await cli(
        "emit",
        "--job",
        "cust/pcb",
        "--type",
        "finished",
        "--url",
        url,
        env=clean_env(MLOPS_WEBHOOK_SECRET_FILE=str(tmp_path / "webhook_secret.txt")),
        cwd=tmp_path,
    )
    assert code == 0, err
    assert [i.payload["type"] for i in await inbox.lease("job:cust/pcb")] == ["finished"]


async def test_emit_with_an_unreadable_secret_file_says_which(tmp_path: Path) -> None:
    code, _, err = await cli(
        "emit",
        "--job",
        "a",
        "--type",
        "epoch",
        env=clean_env(MLOPS_WEBHOOK_SECRET_FILE=str(tmp_path / "absent")),
        cwd=tmp_path,
    )
    assert code == 2 and "MLOPS_WEBHOOK_SECRET_FILE" in err and "absent" in err


async def test_emit_rejects_a_malformed_metric(tmp_path: Path) -> None:
    code, _, err = await cli(
        "emit",
        "--job",
        "a",
        "--type",
        "epoch",
        "--metric",
        "loss",
        env=clean_env(MLOPS_WEBHOOK_SECRET=new_webhook_secret()),
        cwd=tmp_path,
    )
    assert code == 2 and "KEY=VALUE" in err


def test_slack_chosen_without_a_token_fails_at_start_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLOPS_CHAT", "slack")
    with pytest.raises(SettingsError, match="MLOPS_CHAT=slack needs SLACK_BOT_TOKEN"):
        load_settings(_env_file=None)


def test_the_chat_defaults_to_slack_when_configured_else_the_web_page() -> None:
    assert load_settings(_env_file=None).chat_kind == "web"
    assert load_settings(_env_file=None, slack_bot_token="xoxb-1").chat_kind == "slack"
