"""The container tests' fixtures: the engine, the image (built once per suite), the doubles.

The scripted model and the fake Slack run on the host's loopback, as in the
end-to-end tests; the containers join the host's network (`--network host`),
which is how they reach them: podman 4.3's bridge network (and its
`host.containers.internal`) cannot reach a server bound to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, figure, missing
from tests.container.engine import Engine, find_engine
from tests.container.service import Secrets, ServiceContainer, run_service, write_secrets
from tests.e2e import conftest as e2e
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack

# The same doubles as the end-to-end tests, one pair per test module.
model = e2e.model
slack = e2e.slack

BUILD_SCRIPT = ROOT / "container" / "build.sh"
# A cold build (base image, every wheel, opencode) took ~5.5 min here; a cached one seconds.
BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Image:
    tag: str
    size_mb: float
    build_s: float


@pytest.fixture(scope="session")
def engine() -> Engine:
    found, why = find_engine()
    if found is None:
        missing(why)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def image(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The service image, built from this checkout once per test session.

    Tagged per checkout, so suites run from two checkouts at once never swap
    images; the layers they share are stored once."""
    checkout = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
    tag = f"localhost/mlops-agent-test:{checkout}"
    log = tmp_path_factory.mktemp("image") / "build.log"
    began = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(
            [str(BUILD_SCRIPT), tag],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=BUILD_TIMEOUT_S,
            env={**engine.environment(), "CONTAINER_ENGINE": engine.binary},
            cwd=ROOT,
        )
    build_s = time.monotonic() - began
    if result.returncode != 0:
        tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"the image did not build (exit {result.returncode}, log {log}):\n{tail}")
    size = int(engine.output("image", "inspect", "--format", "{{.Size}}", tag).strip())
    figure(f"image {tag}: {size / 1e6:.0f} MB, build {build_s:.0f} s")
    return Image(tag=tag, size_mb=size / 1e6, build_s=build_s)


@dataclass
class Made:
    """Containers and volumes a test module made: removed, by name, when it ends."""

    engine: Engine
    containers: list[str]
    volumes: list[str]

    def volume(self) -> str:
        name = f"mlops-agent-test-{uuid.uuid4().hex[:8]}"
        self.engine("volume", "create", name)
        self.volumes.append(name)
        return name

    def container(self) -> str:
        name = f"mlops-agent-test-{uuid.uuid4().hex[:8]}"
        self.containers.append(name)
        return name


@pytest.fixture(scope="module")
def made(engine: Engine) -> Iterator[Made]:
    record = Made(engine, [], [])
    yield record
    engine.remove(containers=record.containers, volumes=record.volumes)


@pytest.fixture(scope="module")
def secrets_(tmp_path_factory: pytest.TempPathFactory) -> Secrets:
    return write_secrets(tmp_path_factory.mktemp("secrets") / "run-secrets")


Launch = Callable[..., Awaitable[ServiceContainer]]


@pytest.fixture(scope="module")
def launch(
    engine: Engine,
    image: Image,
    made: Made,
    secrets_: Secrets,
    model: ScriptedModel,
    slack: FakeSlack,
) -> Launch:
    """Start the image hardened, on `volume` (a new one if none), and wait until ready."""

    async def start(volume: str | None = None, **extra_env: str) -> ServiceContainer:
        if volume is None:
            volume = await asyncio.to_thread(made.volume)
        container = await run_service(
            engine,
            image.tag,
            name=made.container(),
            volume=volume,
            secrets_=secrets_,
            model=model,
            slack=slack,
            extra_env=extra_env,
        )
        await container.wait_ready()
        return container

    return start
