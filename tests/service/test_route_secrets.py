"""Per-route webhook secrets: an event for a job of route A verifies only with A's secret
(403 and nothing queued with B's or the site's), a sweep's trial signs as its base job's
route, jobs the scheduler starts get their route's secret, and a site without route
secrets keeps its one secret. The real app and inbox; a real local scheduler."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from agent.engine.inbox import Inbox
from agent.intake.webhook import Signers
from agent.settings import new_webhook_secret
from core.routes import Routes, RoutesError
from core.skill_env import SkillEnvironment
from core.webhook_secrets import job_webhook_secret
from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from tests.aiqu.conftest import wait_state
from tests.service.test_intake import signed, webhook

SITE, A, B = new_webhook_secret(), new_webhook_secret(), new_webhook_secret()
ROUTES = """\
routes:
  - name: customer-a
    jobs: ["customer-a/**"]
    channel: CA
    secret_file: a.whsec
  - name: customer-b
    jobs: ["customer-b/**"]
    channel: CB
    secret_file: /{dir}/b.whsec
"""


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    (tmp_path / "a.whsec").write_text(A + "\n")
    (tmp_path / "b.whsec").write_text(B)
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.format(dir=str(tmp_path).lstrip("/")))
    return path


@pytest.fixture
def routes(routes_file: Path) -> Routes:
    return Routes.load(routes_file, allowed_users=frozenset(), default_channel="CN")


@pytest.fixture
async def hook(routes: Routes, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Inbox]]:
    sweeps = {"lr-1": "customer-a/weld"}
    async with webhook(tmp_path, Signers(SITE, routes, sweeps.get)) as served:
        yield served


async def post(client: httpx.AsyncClient, secret: str, msg: str, **event: object) -> int:
    body = json.dumps({"type": "crashed", **event}).encode()
    answer = await client.post("/hooks/training", content=body, headers=signed(body, msg, secret))
    return answer.status_code


async def test_a_job_s_event_verifies_only_with_its_route_s_secret(hook) -> None:
    client, inbox = hook
    assert await post(client, B, "m1", job="customer-a/weld") == 403
    assert await post(client, SITE, "m2", job="customer-a/weld") == 403
    assert await post(client, new_webhook_secret(), "m3", job="customer-a/weld") == 401
    assert await inbox.depth() == 0
    assert await post(client, A, "m4", job="customer-a/weld") == 202
    assert await post(client, B, "m5", job="customer-b/pcb") == 202
    assert await post(client, SITE, "m6", job="internal/resnet") == 202  # no route: the site's
    assert await post(client, A, "m7", job="internal/resnet") == 403
    assert await inbox.depth() == 3


async def test_a_sweep_s_trial_signs_as_its_base_job_s_route(hook) -> None:
    client, inbox = hook
    trial = {"job": "lr-1/trial-3", "labels": {"sweep": "lr-1"}}
    assert await post(client, SITE, "t1", **trial) == 403  # the name is no route's; the sweep is
    assert await post(client, B, "t2", **{**trial, "job": "customer-b/x"}) == 403
    assert await post(client, A, "t3", **trial) == 202
    assert [i.conversation for i in await inbox.lease("sweep:lr-1")] == ["sweep:lr-1"]


async def test_one_secret_per_route_is_checked_at_start(routes_file: Path) -> None:
    (routes_file.parent / "b.whsec").write_text(A)
    with pytest.raises(RoutesError, match="two routes share a webhook secret"):
        Routes.load(routes_file, allowed_users=frozenset(), default_channel=None)
    (routes_file.parent / "b.whsec").write_text("hunter2")
    with pytest.raises(RoutesError, match=r"route 'customer-b': secret_file: .* must hold a"):
        Routes.load(routes_file, allowed_users=frozenset(), default_channel=None)
    (routes_file.parent / "b.whsec").unlink()
    with pytest.raises(RoutesError, match=r"route 'customer-b': secret_file: cannot read"):
        Routes.load(routes_file, allowed_users=frozenset(), default_channel=None)


def test_the_secret_never_shows_in_a_route_s_repr(routes: Routes) -> None:
    assert A not in repr(routes) and B not in repr(routes)


def test_jobs_the_scheduler_starts_get_their_route_s_secret(
    routes_file: Path, tmp_path: Path
) -> None:
    env = SkillEnvironment(state_dir=tmp_path, webhook_secret=SITE, routes_file=routes_file)
    env = env.replace(extra=dict(os.environ))
    show = "import os; print(os.environ['MLOPS_WEBHOOK_SECRET'])"
    with LocalScheduler(tmp_path, 1, env=env, poll_interval_s=0.05) as local:
        local.start()
        made = {}
        for name, secret_env in (("customer-a/weld", {}), ("internal/x", {})):
            job = local.submit(JobSpec(name, [sys.executable, "-c", show], env=secret_env))
            made[name] = wait_state(local, job.id, "succeeded").id
        # The job's own env cannot pick another route's secret.
        forged = JobSpec(
            "customer-a/forged", [sys.executable, "-c", show], env={"MLOPS_WEBHOOK_SECRET": B}
        )
        made["customer-a/forged"] = wait_state(local, local.submit(forged).id, "succeeded").id
        printed = {name: local.logs(job_id).strip() for name, job_id in made.items()}
    assert printed == {"customer-a/weld": A, "internal/x": SITE, "customer-a/forged": A}


def test_a_site_without_routes_keeps_its_one_secret() -> None:
    alone = Routes.load(None, allowed_users=frozenset(), default_channel=None)
    assert job_webhook_secret(alone, SITE, "customer-a/weld") == SITE
