"""The per-turn prompt as the model receives it from the real service: small, and the same
bytes in every turn, conversation and work dir (so a server's prompt cache carries it).

Every skill is on (git with a repo), as in the eval world: the largest prompt there is.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agent.chat.base import IncomingMessage
from agent.service import Service
from agent.settings import Settings, new_webhook_secret
from evals.bridge import RecordingBridge
from tests.conftest import OPENCODE_BIN, free_port
from tests.e2e.harness import eventually, post_event
from tests.fakes.model import ModelRequest, Reply, ScriptedModel

pytestmark = pytest.mark.e2e

# The budget for system prompt + tool schemas: a small model on a CPU reads it
# in tens of seconds, and every turn pays it once its cache is gone.
LIMIT = 12_000


def prompt_size(request: ModelRequest) -> tuple[int, int]:
    return len(request.system), len(json.dumps(request.raw.get("tools") or []))


def settings(state: Path, model: ScriptedModel) -> Settings:
    repo = state.parent / "training"
    repo.mkdir(parents=True, exist_ok=True)
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=state,
        model_base_url=model.base_url,
        model=model.model_id,
        model_temperature=0.1,
        model_max_output=1024,
        webhook_secret=new_webhook_secret(),
        port=free_port(),
        allowed_users="UALICE",
        notify_channel="CNOTIFY",
        chat=None,
        web="off",
        opencode_bin=OPENCODE_BIN,
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}",
        git_repos=json.dumps({"training": {"path": str(repo), "allow": ["configs/**"]}}),
        local_gpus=2,
        digest_time=None,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def requests(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[ModelRequest]]:
    """Three turns: an event and a person's message in one service, an event in a second
    service with another state (and so work) dir."""
    async with ScriptedModel(default_reply=Reply.text("<silent/>")) as model:
        for n, items in enumerate((("event", "chat"), ("event",))):
            state = tmp_path_factory.mktemp(f"service{n}") / "state"
            service = Service(settings(state, model), chat=RecordingBridge())
            await service.start()
            try:
                for kind in items:
                    seen = len(model.requests)
                    if kind == "event":
                        await post_event(service.url, service.secret, type="crashed", job=f"t/{n}")
                    else:
                        message = IncomingMessage("DALICE", f"{time.time():.6f}", "UALICE", "hi")
                        await service.chat_intake.on_message(message)
                    await eventually(lambda seen=seen: len(model.requests) > seen, timeout=90)
            finally:
                await service.stop()
        yield list(model.requests)


async def test_the_prompt_fits_its_budget(requests: list[ModelRequest]) -> None:
    system, tools = prompt_size(requests[0])
    print(f"\n[figure] per-turn prompt: {system + tools} chars (system {system}, tools {tools})")
    assert system + tools <= LIMIT
    # Every skill is in it: the budget holds for the largest prompt.
    names = requests[0].tool_names
    for skill in ("aiqu_", "mlflow_", "datasets_", "git_"):
        assert any(n.startswith(skill) for n in names), skill


async def test_the_same_bytes_every_turn_conversation_and_work_dir(
    requests: list[ModelRequest],
) -> None:
    first = requests[0]
    assert len(requests) == 3
    for other in requests[1:]:
        assert other.system == first.system
        assert json.dumps(other.raw["tools"]) == json.dumps(first.raw["tools"])
    # Nothing that changes with the day or the directory precedes the tools.
    today = time.strftime("%a %b %d %Y")
    assert today not in first.system and "Working directory" not in first.system
    assert "/state/" not in first.system


async def test_temperature_and_output_limit_are_sent(requests: list[ModelRequest]) -> None:
    assert requests[0].raw["temperature"] == 0.1
    assert requests[0].raw["max_tokens"] == 1024
