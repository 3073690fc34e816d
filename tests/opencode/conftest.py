"""One scripted model and one real opencode per test module (opencode takes seconds
to start); every test gets the model reset to a clean script."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.opencode.client import ModelRef
from agent.opencode.config import PROVIDER_ID, McpServerSpec, build_config
from agent.opencode.runtime import OpencodeRuntime
from tests.conftest import OPENCODE_BIN
from tests.fakes.model import ScriptedModel

ECHO_SERVER = Path(__file__).with_name("echo_server.py")
BRIEF = "You are the MLOps test agent. Say little.\n"


def echo_spec() -> McpServerSpec:
    return McpServerSpec("echo", [sys.executable, str(ECHO_SERVER)], timeout_ms=20_000)


def make_runtime(
    model: ScriptedModel,
    state_dir: Path,
    brief_file: Path,
    *,
    mcp_servers: list[McpServerSpec] | None = None,
    **options: Any,
) -> OpencodeRuntime:
    config = build_config(
        base_url=model.base_url,
        model_id=model.model_id,
        api_key="test-key",
        context=32_768,
        max_output=4_096,
        prompt_file=brief_file,
        mcp_servers=[echo_spec()] if mcp_servers is None else mcp_servers,
    )
    return OpencodeRuntime(
        binary=OPENCODE_BIN,
        state_dir=state_dir,
        config=config,
        model=ModelRef(PROVIDER_ID, model.model_id),
        model_base_url=model.base_url,
        model_api_key="test-key",
        **options,
    )


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as m:
        yield m


@pytest.fixture(autouse=True)
def _fresh_script(request: pytest.FixtureRequest) -> None:
    if "model" not in request.fixturenames:
        return
    request.getfixturevalue("model").reset()


@pytest.fixture(scope="module")
def brief_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("brief") / "brief.md"
    path.write_text(BRIEF)
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runtime(
    model: ScriptedModel, brief_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OpencodeRuntime]:
    rt = make_runtime(model, tmp_path_factory.mktemp("state"), brief_file)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()
