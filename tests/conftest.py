"""Shared fixtures. Each area keeps its own fixtures in its own folder's conftest."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

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
