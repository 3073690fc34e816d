"""The built image, run hardened, serves: readiness, a crash becomes a post, least privilege.

One container serves the module (its cold start is the figure printed); the
scripted model and the fake Slack run on the host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.container.conftest import Launch, figure
from tests.container.engine import Engine
from tests.container.service import DEPLOY_KEY_PATH, Secrets, ServiceContainer
from tests.e2e.harness import NOTIFY, post_event
from tests.fakes.model import Reply, ScriptedModel
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.container, pytest.mark.asyncio(loop_scope="module")]

UID = 10001
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 88, in <module>\n'
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB"
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(launch: Launch, slack: FakeSlack) -> AsyncIterator[ServiceContainer]:
    container = await launch()
    figure(f"cold start to /readyz: {container.ready_s:.1f} s (embedded MLflow, 4 skills)")
    await slack.wait_connected(timeout=30)
    yield container


async def test_readyz_answers_and_the_image_healthcheck_passes(
    service: ServiceContainer, engine: Engine
) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(service.url + "/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True
    if engine.is_podman:  # docker runs the check on its own schedule only
        # As the HEALTHCHECK's retries do: one slow answer on a loaded machine is no failure.
        for _ in range(3):
            health = await engine.run("healthcheck", "run", service.name, check=False)
            if health.returncode == 0:
                break
            await asyncio.sleep(2.0)
        assert health.returncode == 0, health.stdout + health.stderr


async def test_a_signed_crash_event_becomes_a_post_in_the_notify_channel(
    service: ServiceContainer, secrets_: Secrets, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.push(Reply.text("Crashed\ncust-c/weld-v1 — epoch 12\nCUDA OOM at batch 64"))
    r = await post_event(
        service.url, secrets_.webhook, type="crashed", job="cust-c/weld-v1", traceback=TRACEBACK
    )
    assert r.status_code == 202
    post = await slack.wait_for_post(lambda p: "cust-c/weld-v1 — epoch 12" in p.text, timeout=90)
    assert post.channel == NOTIFY and post.thread_ts is None
    prompts = [r.last_user_text for r in model.requests if "cust-c/weld-v1" in r.last_user_text]
    assert "torch.OutOfMemoryError" in prompts[0]


async def test_every_process_runs_as_the_image_user_without_capabilities(
    service: ServiceContainer,
) -> None:
    code, out = await service.exec(
        "python3",
        "-c",
        "import glob, json\n"
        "procs = {}\n"
        "for path in glob.glob('/proc/[0-9]*/status'):\n"
        "    try: lines = open(path).read().splitlines()\n"
        "    except OSError: continue\n"
        "    procs[path] = dict(l.split(':', 1) for l in lines if ':' in l)\n"
        "print(json.dumps(list(procs.values())))",
    )
    assert code == 0, out
    processes = json.loads(out)
    names = {p["Name"].strip() for p in processes}
    # tini as PID 1, the supervisor, opencode, and the skills it started.
    assert {"tini", "mlops-agent", "opencode"} <= names, names
    for p in processes:
        assert p["Uid"].split() == [str(UID)] * 4, p["Name"]
        assert p["Gid"].split() == [str(UID)] * 4, p["Name"]
        assert int(p["CapEff"], 16) == 0 and int(p["CapPrm"], 16) == 0, p["Name"]
        assert int(p["CapBnd"], 16) == 0, p["Name"]
        assert p["NoNewPrivs"].strip() == "1", p["Name"]


async def test_the_compose_limits_leave_room_for_what_the_service_uses(
    service: ServiceContainer,
) -> None:
    # cgroup v2 files first, then v1's; whichever this machine mounts.
    code, out = await service.exec(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids.current 2>/dev/null || cat /sys/fs/cgroup/pids/pids.current;"
        "cat /sys/fs/cgroup/memory.current 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.usage_in_bytes",
    )
    assert code == 0, out
    tasks, memory = (int(v) for v in out.split())
    figure(f"in use after a few turns: {tasks} tasks (threads), {memory / 2**20:.0f} MiB")
    # compose.yaml: pids_limit 1024, mem_limit 4g.
    assert tasks < 1024 / 2 and memory < 4 * 2**30 / 2


async def test_nothing_but_state_and_tmp_is_writable(service: ServiceContainer) -> None:
    code, mounts = await service.exec("cat", "/proc/mounts")
    assert code == 0
    root = next(line.split() for line in mounts.splitlines() if line.split()[1] == "/")
    assert "ro" in root[3].split(","), root

    forbidden = ["/", "/etc", "/opt/venv/bin", "/opt/opencode/bin", "/var/tmp", "/run", "/usr"]
    for directory in forbidden:
        code, out = await service.exec("touch", f"{directory}/probe")
        assert code != 0, f"could write into {directory}"
        assert "Read-only file system" in out, (directory, out)
    for directory in ("/state", "/tmp"):
        code, out = await service.exec("touch", f"{directory}/probe")
        assert code == 0, (directory, out)


async def test_secrets_arrive_only_as_files(
    service: ServiceContainer,
    engine: Engine,
    secrets_: Secrets,
    model: ScriptedModel,
    slack: FakeSlack,
) -> None:
    # A turn of its own, so the model's requests below include one from this container.
    model.push(Reply.text("Started cust-c/secrets-v1"))
    await post_event(service.url, secrets_.webhook, type="started", job="cust-c/secrets-v1")
    await slack.wait_for_post(lambda p: p.text == "Started cust-c/secrets-v1", timeout=90)
    values = list(secrets_.values.values())

    environment = (await service.inspect())["Config"]["Env"]
    assert not [v for v in values if any(v in entry for entry in environment)]
    assert f"GIT_SSH_COMMAND=ssh -i {DEPLOY_KEY_PATH} -o IdentitiesOnly=yes" in environment
    for variable in ("SLACK_BOT_TOKEN", "MLOPS_MODEL_API_KEY", "MLOPS_WEBHOOK_SECRET"):
        assert f"{variable}_FILE=/run/secrets/{variable.lower()}" in environment
        assert not [e for e in environment if e.startswith(f"{variable}=")]

    # No process holds one in its environment, but the skills the webhook secret: they
    # hand it to the jobs they start, which sign their events with it.
    code, out = await service.exec("python3", "-c", PROCESS_ENVIRONMENTS)
    assert code == 0, out
    processes = json.loads(out)
    assert any("opencode" in p["cmd"] for p in processes)
    for p in processes:
        held = {name for name, value in secrets_.values.items() if value in p["env"]}
        allowed = {"MLOPS_WEBHOOK_SECRET"} if "-m mcp_servers" in p["cmd"] else set()
        assert held <= allowed, (p["cmd"], held)

    # The model sees none; its own key only as the bearer token, read from its file.
    assert model.requests
    bearer = f"Bearer {secrets_.model_api_key}"
    for request in model.requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["authorization"] == bearer
        seen = (json.dumps(request.raw) + json.dumps(headers)).replace(bearer, "")
        assert [v for v in values if v in seen] == []


PROCESS_ENVIRONMENTS = """
import glob, json
found = []
for d in glob.glob('/proc/[0-9]*'):
    try:
        cmd = open(d + '/cmdline', 'rb').read().replace(b'\\0', b' ').decode(errors='replace')
        env = open(d + '/environ', 'rb').read().decode(errors='replace')
    except OSError:
        continue
    found.append({'cmd': cmd, 'env': env})
print(json.dumps(found))
"""
