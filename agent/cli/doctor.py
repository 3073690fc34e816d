"""`mlops-agent doctor`: one line per check, non-zero exit when any fails."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from agent.service.skills import skill_environment
from agent.settings import Settings, SettingsError, load_settings
from core.skill_env import LEDGER_KEY_FILE, SkillEnvironment
from mcp_servers import registry
from mcp_servers.plugin import Skill

if TYPE_CHECKING:  # nio loads only when a Matrix check runs
    from agent.chat.matrix.doctor import MatrixAccount

Check = tuple[str, Callable[[Settings], tuple[bool, str]]]


def run_checks() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"FAIL settings    {exc}")
        return 1
    print("ok   settings     loaded")
    failed = 0
    for name, check in [*CHECKS, *skill_checks()]:
        try:
            ok, detail = check(settings)
        except Exception as exc:  # a check must never crash the doctor
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        print(f"{'ok  ' if ok else 'FAIL'} {name:<12} {detail}")
        failed += not ok
    return 1 if failed else 0


def check_opencode(s: Settings) -> tuple[bool, str]:
    from agent.opencode.runtime import DEFAULT_BINARY

    binary = s.opencode_bin or DEFAULT_BINARY
    if not Path(binary).exists():
        return False, f"not found at {binary}; run `make install`"
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    return out.returncode == 0, f"{binary} {out.stdout.strip()}"


def check_brief(s: Settings) -> tuple[bool, str]:
    from agent.engine.brief import BriefError, load_brief

    try:
        brief = load_brief(s.brief_dir, s.silence_marker)
    except BriefError as exc:
        return False, str(exc)
    files = len(list(s.brief_dir.glob("*.md")))
    return True, f"{files} files in {s.brief_dir}, sha256 {brief.digest}"


def check_model(s: Settings) -> tuple[bool, str]:
    import httpx

    if s.embedded_model is not None:
        return check_embedded_model(s)
    if not s.model:
        return False, f"MLOPS_MODEL not set: which model {s.model_base_url} should serve"
    headers = {"Authorization": f"Bearer {s.model_api_key}"}
    r = httpx.get(f"{s.model_base_url}/models", headers=headers, timeout=5)
    if r.status_code != 200:
        return False, f"{s.model_base_url}/models answered {r.status_code}"
    ids = [m.get("id") for m in r.json().get("data", [])]
    if ids and s.model not in ids:
        return False, f"model {s.model!r} not served there; available: {', '.join(ids[:5])}"
    return True, f"{s.model_base_url} serves {s.model}"


def check_embedded_model(s: Settings) -> tuple[bool, str]:
    """The pinned file, its hash, and a server that loads it and answers."""
    import asyncio

    from agent.model.embedded import EmbeddedModel, EmbeddedModelError
    from agent.model.weights import WeightsError, verify_once

    weights = s.embedded_model
    assert weights is not None
    try:
        path = verify_once(weights, s.model_dir)
    except WeightsError as exc:
        return False, str(exc)

    async def answers() -> str:
        with tempfile.TemporaryDirectory(prefix="mlops-doctor-") as tmp:
            model = EmbeddedModel(
                weights, s.model_dir, state_dir=Path(tmp), context=2048, slots=1, threads=1
            )
            try:
                await model.start()
            finally:
                await model.stop()
        return model.model_id

    try:
        served = asyncio.run(answers())
    except EmbeddedModelError as exc:
        return False, f"{path} verified, but the server did not start: {exc}"
    return True, (
        f"embedded {weights.title}: {path} (sha256 verified), served as {served}; "
        "small and CPU-bound: for real use point MLOPS_MODEL_BASE_URL at vLLM, Ollama or llama.cpp"
    )


def check_slack(s: Settings) -> tuple[bool, str]:
    from slack_sdk import WebClient

    if s.chat_kind == "matrix":
        return True, "not used: MLOPS_CHAT=matrix"
    if s.chat_kind == "web" and not s.slack_bot_token:
        return True, "not used: the web page is the chat (SLACK_BOT_TOKEN to add Slack)"
    if not s.slack_bot_token:
        return False, "SLACK_BOT_TOKEN not set (create the app from slack/manifest.yaml)"
    if s.slack_mode == "socket" and not s.slack_app_token:
        return False, "SLACK_APP_TOKEN not set (needed for Socket Mode)"
    base = (s.slack_api_url.rstrip("/") + "/") if s.slack_api_url else WebClient.BASE_URL
    auth = WebClient(token=s.slack_bot_token, base_url=base).auth_test()
    if not s.notify_channel:
        return False, f"auth ok as {auth['user']}, but MLOPS_NOTIFY_CHANNEL is not set"
    return True, f"auth ok as {auth['user']} in {auth.get('team')}; notify {s.notify_channel}"


def check_matrix(s: Settings) -> tuple[bool, str]:
    if s.chat_kind != "matrix":
        return True, "not used (MLOPS_CHAT=matrix to chat over Matrix)"
    from agent.chat.matrix import doctor

    return doctor.check(matrix_account(s))


def matrix_account(s: Settings) -> MatrixAccount:
    """The Matrix bot's account as the settings give it."""
    from agent.chat.matrix.doctor import MatrixAccount

    return MatrixAccount(
        s.state_dir,
        s.matrix_homeserver,
        s.matrix_user_id,
        s.matrix_notify_room,
        access_token=s.matrix_access_token,
        password=s.matrix_password,
    )


def skill_checks() -> list[Check]:
    """One line per skill, from its own health check (`mcp_servers.registry`)."""
    return [(skill.label, _skill_check(skill)) for skill in registry.SKILLS]


def _skill_check(skill: Skill) -> Callable[[Settings], tuple[bool, str]]:
    def check(s: Settings) -> tuple[bool, str]:
        if skill.name == "mlflow" and s.mlflow_tracking_uri is None:
            # No team server given: `serve` runs its own, so there is nothing to reach yet.
            return True, "embedded: `serve` starts a local MLflow server in the state dir"
        return skill.check(_skill_environment(s))

    return check


def _skill_environment(s: Settings) -> SkillEnvironment:
    """What `serve` would hand the skills (the service's own URL and secret aside)."""
    state = s.state_dir.resolve()
    return skill_environment(
        s,
        tracking_uri=s.mlflow_tracking_uri,
        service_url=f"http://{s.host}:{s.port}",
        webhook_secret=s.webhook_secret or "",
        ledger_key_file=state / LEDGER_KEY_FILE,
    )


# The service's own checks; each skill's follows (`skill_checks`).
CHECKS: list[Check] = [
    ("opencode", check_opencode),
    ("brief", check_brief),
    ("model", check_model),
    ("slack", check_slack),
    ("matrix", check_matrix),
]
