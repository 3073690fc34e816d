"""Shared fixtures. Each area keeps its own fixtures in its own folder's conftest."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.ray.cluster import RayHead

ROOT = Path(__file__).resolve().parent.parent
OPENCODE_BIN = ROOT / ".tools/opencode/node_modules/.bin/opencode"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a developer's .env or exported MLOPS_* variables."""
    for key in list(os.environ):
        if key.startswith(("MLOPS_", "SLACK_", "MATRIX_")):
            monkeypatch.delenv(key)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


STRICT_VARIABLE = "MLOPS_TEST_STRICT"


def missing(reason: str) -> None:
    """A system component a test needs is absent (Slurm, podman, Chromium…).

    A developer's machine skips with the reason; CI sets MLOPS_TEST_STRICT=1
    (`.ci/run`), where a broken install step must fail the run instead of
    silently dropping tests."""
    if os.environ.get(STRICT_VARIABLE) == "1":
        pytest.fail(f"{reason} ({STRICT_VARIABLE}=1: missing components fail instead of skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """A real Ray head (`.venv-ray`), started once per test process at the first test that
    needs it, and stopped at the end: one per pytest-xdist worker at most. Its listeners
    stay in a network namespace of its own; the dashboard is on 127.0.0.1 (`head.url`)."""
    from tests.ray.cluster import RayUnavailable, missing_tools, start_head

    reason = missing_tools()
    if reason:
        missing(reason)
    try:
        head = start_head()
    except RayUnavailable as exc:
        missing(str(exc))
        raise  # missing() never returns
    try:
        yield head
    finally:
        head.stop()
