"""The eval stage's service talks to the recording bridge, whatever chat the operator set up."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.service import Service
from agent.settings import Settings
from evals.bridge import RecordingBridge
from evals.cast import NOTIFY_CHANNEL
from evals.stage import ModelTarget, Stage


def stage(root: Path) -> Stage:
    return Stage(
        root,
        proxy_url="http://127.0.0.1:9/v1",
        target=ModelTarget("http://127.0.0.1:9/v1", "m"),
        brief_dir=Path(__file__).resolve().parents[2] / "brief",
        repos={},
        tracking_uri="http://127.0.0.1:9",
        turn_timeout_s=10.0,
    )


def test_the_operators_chat_and_routes_stay_out_of_the_stage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLOPS_CHAT", "matrix")
    monkeypatch.setenv("MLOPS_ROUTES", str(tmp_path / "routes.yaml"))  # not there: would fail
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-operator")
    settings = stage(tmp_path).settings()
    assert settings.chat_kind == "web"
    assert settings.routes is None
    assert settings.slack_bot_token is None
    assert settings.notify_channel == NOTIFY_CHANNEL


async def test_a_given_bridge_is_the_chat_even_when_matrix_is_configured(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=tmp_path,
        model_base_url="http://127.0.0.1:9/v1",
        model="m",
        webhook_secret="whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=",
        notify_channel="#ml",
        chat="matrix",
        matrix_homeserver="http://127.0.0.1:9",
        matrix_user_id="@bot:example.org",
        matrix_access_token="token",
        matrix_notify_room="!room:example.org",
    )
    bridge = RecordingBridge()
    service = Service(settings, chat=bridge)
    # Nothing listens on the homeserver's port: a MatrixBridge would fail to connect.
    assert await service._open_chat() == (bridge, "#ml")
