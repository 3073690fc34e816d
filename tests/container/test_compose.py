"""`container/compose.yaml` as shipped, brought up and down by podman-compose.

The test adds only an override file that a site would write too: the image
(this suite's build), the model's and Slack's URLs, the secrets' paths, and
host networking, which is how a container reaches the doubles on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, missing
from tests.container.conftest import Image
from tests.container.engine import Engine
from tests.container.service import ServiceContainer, settings_environment, write_secrets
from tests.e2e.harness import post_event
from tests.fakes.model import Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.container, pytest.mark.asyncio(loop_scope="module")]

COMPOSE_FILE = ROOT / "container" / "compose.yaml"
# compose.yaml's secret name → the variable write_secrets() names its file after.
SECRET_SOURCES = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_app_token": "SLACK_APP_TOKEN",
    "model_api_key": "MLOPS_MODEL_API_KEY",
    "webhook_secret": "MLOPS_WEBHOOK_SECRET",
}


def compose_command(engine: Engine) -> list[str]:
    if not engine.is_podman:
        missing("the compose test drives podman-compose; this machine runs docker")
    tool = Path(sys.executable).with_name("podman-compose")
    if not tool.exists():
        found = shutil.which("podman-compose")
        if found is None:
            missing("podman-compose is not installed (the test extra of pyproject.toml)")
        tool = Path(str(found))
    return [str(tool)]


class Compose:
    def __init__(self, engine: Engine, override: Path) -> None:
        self.engine = engine
        self.project = f"mlops-agent-test-{uuid.uuid4().hex[:8]}"
        self.base = [
            *compose_command(engine),
            "--project-name",
            self.project,
            "-f",
            str(COMPOSE_FILE),
            "-f",
            str(override),
        ]

    def __call__(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.base, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.engine.environment(),
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        assert result.returncode == 0, f"compose {args} failed:\n{result.stdout}{result.stderr}"
        return result

    def containers(self) -> list[str]:
        out = self.engine.output(
            "ps",
            "--all",
            "--filter",
            f"label=io.podman.compose.project={self.project}",
            "--format",
            "{{.Names}}",
        )
        return out.split()

    def volumes(self) -> list[str]:
        out = self.engine.output("volume", "ls", "--format", "{{.Name}}")
        return [v for v in out.split() if v.startswith(self.project)]


def override_file(
    folder: Path, image: Image, port: int, model: ScriptedModel, slack: FakeSlack
) -> Path:
    secrets_ = write_secrets(folder / "secrets")
    override = {
        "services": {
            "mlops-agent": {
                "image": image.tag,
                "network_mode": "host",
                "environment": {
                    **settings_environment(port, model, slack),
                    # The embedded MLflow is the image's default, started by the service
                    # test; here the skill points at a closed port to save its start.
                    "MLOPS_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
                },
            }
        },
        "secrets": {
            name: {"file": str(secrets_.folder / variable.lower())}
            for name, variable in SECRET_SOURCES.items()
        },
    }
    path = folder / "compose.override.yaml"
    path.write_text(json.dumps(override, indent=2))  # JSON is YAML
    (folder / "webhook_secret").write_text(secrets_.webhook)
    return path


@pytest.fixture
def compose(
    engine: Engine, image: Image, tmp_path: Path, model: ScriptedModel, slack: FakeSlack
) -> Iterator[tuple[Compose, int, str]]:
    port = free_port()
    override = override_file(tmp_path, image, port, model, slack)
    project = Compose(engine, override)
    yield project, port, (tmp_path / "webhook_secret").read_text()
    # Whatever happened, nothing of this project stays behind.
    subprocess.run(
        [*project.base, "down", "--volumes"],
        capture_output=True,
        timeout=300,
        env=engine.environment(),
        cwd=ROOT,
    )
    engine.remove(containers=project.containers(), volumes=project.volumes())


async def test_the_compose_file_runs_the_hardened_service_and_takes_it_down(
    compose: tuple[Compose, int, str], engine: Engine, model: ScriptedModel, slack: FakeSlack
) -> None:
    project, port, webhook_secret = compose
    project("up", "--detach")
    (name,) = project.containers()
    container = ServiceContainer(engine, name, port, volume="", started=0.0)
    await container.wait_ready()

    host = (await container.inspect())["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in " ".join(host["SecurityOpt"])
    assert len(host["CapDrop"]) > 10 and host["CapAdd"] in ([], None)
    assert host["Memory"] == 4 * 1024**3 and host["PidsLimit"] == 1024
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert "/tmp" in host["Tmpfs"]
    mounts = {m["Destination"]: m for m in (await container.inspect())["Mounts"]}
    assert mounts["/state"]["Type"] == "volume"
    assert mounts["/state"]["Name"].startswith(project.project)
    assert mounts["/run/secrets/webhook_secret"]["RW"] is False

    # The compose secrets work: the webhook verifies, Slack and the model authenticate.
    model.reset()
    model.push(Reply.text("Crashed cust-d/compose-v1"))
    r = await post_event(container.url, webhook_secret, type="crashed", job="cust-d/compose-v1")
    assert r.status_code == 202
    await slack.wait_for_post(lambda p: p.text == "Crashed cust-d/compose-v1", timeout=90)

    project("down", "--volumes")
    assert project.containers() == [] and project.volumes() == []
