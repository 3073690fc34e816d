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
    from tests.slurm.conftest import SlurmClusters

ROOT = Path(__file__).resolve().parent.parent
OPENCODE_BIN = ROOT / ".tools/opencode/node_modules/.bin/opencode"


# Under pytest-xdist (`make test` runs two workers, `--dist loadgroup`) a module's tests
# stay together on one worker, so what a module starts once (Synapse, opencode, an eval
# session) starts once; these folders stay whole on one worker, so the clusters and the
# image their session fixtures make are made once per run: the three that use the real
# clusters are one group, sharing the process's Slurm clusters (`slurm_clusters`) and Ray
# head (`ray_head`). (xdist's own loadgroup reads `xdist_group` marks through a node id
# pytest 9 no longer lets it change.)
WHOLE_FOLDERS = {
    "tests/slurm/": "clusters",
    "tests/scheduler/": "clusters",
    "tests/ray/": "clusters",
    "tests/container/": "tests/container/",
}


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            folder = next((f for f in WHOLE_FOLDERS if nodeid.startswith(f)), None)
            return WHOLE_FOLDERS[folder] if folder else nodeid.split("::", 1)[0]

    return ByModule(config, log)


FIGURES: list[str] = []


def figure(line: str) -> None:
    """A measured figure, listed at the end of the run (shown under -q too)."""
    FIGURES.append(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: its figures go to the controller
        worker_output["figures"] = FIGURES


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    FIGURES.extend(getattr(node, "workeroutput", {}).get("figures", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


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


@pytest.fixture(scope="session")
def slurm_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmClusters]:
    """Slurm 22.05 and 24.11 (podman), each started once per test process when a test first
    needs it, and stopped at the end (tests/slurm/conftest.py)."""
    from tests.slurm.conftest import SlurmClusters

    clusters = SlurmClusters(tmp_path_factory)
    try:
        yield clusters
    finally:
        clusters.stop()
