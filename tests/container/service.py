"""The service image run as the compose file runs it, against the doubles on the host.

Hardened as in `container/compose.yaml`: read-only root with only /tmp as a
tmpfs, every capability dropped, no-new-privileges, memory and pids limits.
Every secret arrives as a file under /run/secrets, named by its `*_FILE`
variable; none is in the container's environment.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agent.settings import new_webhook_secret
from tests.conftest import free_port
from tests.container.engine import Engine
from tests.e2e.harness import ALICE, NOTIFY
from tests.fakes import slack as fake_slack
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack

STOP_TIMEOUT_S = 30  # compose.yaml's stop_grace_period
DEPLOY_KEY_PATH = "/run/secrets/git_deploy_key"


@dataclass(frozen=True)
class Secrets:
    """Secret values (by variable) and the folder that holds them as files."""

    folder: Path
    values: dict[str, str]

    @property
    def webhook(self) -> str:
        return self.values["MLOPS_WEBHOOK_SECRET"]

    @property
    def model_api_key(self) -> str:
        return self.values["MLOPS_MODEL_API_KEY"]

    @property
    def deploy_key(self) -> str:
        return self.values["GIT_DEPLOY_KEY"]


def write_secrets(folder: Path) -> Secrets:
    """One file per secret, readable by the image's uid 10001, as compose mounts them."""
    values = {
        "SLACK_BOT_TOKEN": fake_slack.BOT_TOKEN,
        "SLACK_APP_TOKEN": fake_slack.APP_TOKEN,
        "SLACK_SIGNING_SECRET": fake_slack.SIGNING_SECRET,
        "MLOPS_MODEL_API_KEY": "sk-container-" + secrets.token_hex(16),
        "MLOPS_WEBHOOK_SECRET": new_webhook_secret(),
        "GIT_DEPLOY_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + secrets.token_urlsafe(48)
        + "\n-----END OPENSSH PRIVATE KEY-----",
    }
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for variable, value in values.items():
        path = folder / variable.lower()
        path.write_text(value + "\n")
        path.chmod(0o444)
    return Secrets(folder, values)


def settings_environment(port: int, model: ScriptedModel, slack: FakeSlack) -> dict[str, str]:
    """The settings that are no secret: the doubles' URLs, the port, the people."""
    return {
        # Host networking: listen on the host's loopback only.
        "MLOPS_HOST": "127.0.0.1",
        "MLOPS_PORT": str(port),
        "MLOPS_MODEL_BASE_URL": model.base_url,
        "MLOPS_MODEL": "scripted",
        "MLOPS_NOTIFY_CHANNEL": NOTIFY,
        "MLOPS_ALLOWED_USERS": ALICE,
        "MLOPS_SLACK_API_URL": slack.api_url,
        "MLOPS_LOCAL_GPUS": "0",
        "MLOPS_MODEL_DOWN_GRACE_S": "1",
        # No morning digest: its turn would take the model's scripted replies.
        "MLOPS_DIGEST_TIME": "",
    }


def secret_file_environment(secrets_: Secrets) -> dict[str, str]:
    """Each secret by its file's path, and the deploy key through ssh's command line."""
    env = {
        f"{variable}_FILE": f"/run/secrets/{variable.lower()}"
        for variable in secrets_.values
        if variable != "GIT_DEPLOY_KEY"
    }
    env["GIT_SSH_COMMAND"] = f"ssh -i {DEPLOY_KEY_PATH} -o IdentitiesOnly=yes"
    return env


@dataclass
class ServiceContainer:
    engine: Engine
    name: str
    port: int
    volume: str  # what it mounts as /state ("" where compose made it)
    started: float  # monotonic time of `run`
    ready_s: float | None = None  # from `run` to the first 200 of /readyz

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def inspect(self) -> dict[str, Any]:
        import json

        out = await self.engine.run("container", "inspect", self.name)
        return dict(json.loads(out.stdout)[0])

    async def running(self) -> bool:
        return bool((await self.inspect())["State"]["Running"])

    async def wait_exited(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while await self.running():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still running after {timeout_s} s")
            await asyncio.sleep(0.2)

    async def logs(self) -> str:
        out = await self.engine.run("logs", self.name, check=False)
        return out.stdout + out.stderr

    async def exec(self, *command: str, check: bool = False) -> tuple[int, str]:
        out = await self.engine.run("exec", self.name, *command, check=check)
        return out.returncode, out.stdout + out.stderr

    async def wait_ready(self, timeout_s: float = 180.0) -> float:
        """Seconds from `run` until /readyz answered 200; fails with the log if it never does."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(self.url + "/readyz")).status_code == 200:
                        self.ready_s = time.monotonic() - self.started
                        return self.ready_s
                except httpx.HTTPError:
                    pass
                if not await self.running():
                    raise AssertionError(f"{self.name} exited before ready:\n{await self.logs()}")
                await asyncio.sleep(0.5)
        raise AssertionError(f"{self.name} not ready in {timeout_s} s:\n{await self.logs()}")


def hardening_args(engine: Engine) -> list[str]:
    """What compose.yaml asks for, as `run` flags."""
    args = [
        "--read-only",
        "--tmpfs",
        "/tmp:rw,size=512m,mode=1777",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        "4g",
        "--pids-limit",
        "1024",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
    ]
    if engine.is_podman:
        # podman adds writable tmpfs on /run and /var/tmp to a read-only root by default.
        args.append("--read-only-tmpfs=false")
    return args


async def run_service(
    engine: Engine,
    image: str,
    *,
    name: str,
    volume: str,
    secrets_: Secrets,
    model: ScriptedModel,
    slack: FakeSlack,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> ServiceContainer:
    port = port or free_port()
    env = {
        **settings_environment(port, model, slack),
        **secret_file_environment(secrets_),
        **(extra_env or {}),
    }
    args = ["run", "--detach", "--name", name, "--network", "host", *hardening_args(engine)]
    args += ["--volume", f"{volume}:/state", "--volume", f"{secrets_.folder}:/run/secrets:ro"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    started = time.monotonic()
    await engine.run(*args, image)
    return ServiceContainer(engine, name, port, volume, started)
