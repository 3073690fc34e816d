from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from evals.loader import load_suite
from evals.session import EvalSession, SessionOptions, repos_of
from evals.stage import ModelTarget
from tests.conftest import OPENCODE_BIN
from tests.fakes.model import ScriptedModel

SCENARIOS = load_suite()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def model() -> AsyncIterator[ScriptedModel]:
    async with ScriptedModel() as m:
        yield m


def session_options(
    model: ScriptedModel, workdir: Path, brief: Path | None = None
) -> SessionOptions:
    options = SessionOptions(
        target=ModelTarget(model.base_url, "scripted"),
        turn_timeout_s=90,
        step_timeout_s=180,
        workdir=workdir,
        opencode_bin=OPENCODE_BIN,
        repos=repos_of(SCENARIOS),
    )
    if brief is not None:
        options.brief_dir = brief
    return options


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def session(
    model: ScriptedModel, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EvalSession]:
    async with EvalSession(session_options(model, tmp_path_factory.mktemp("eval"))) as s:
        yield s
