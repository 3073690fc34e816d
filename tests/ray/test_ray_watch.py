"""The supervisor's watcher over a real Ray head, unchanged: the real aiqu watch process (which
also enforces time limits, as the service runs it), one listing per pass, facts with Ray's
own state and message. Which jobs are watched is checked here too, where other people's
jobs exist: a job someone submitted to Ray is watched once it reported, or when its name
matches MLOPS_WATCH_JOBS, not otherwise."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from agent.watch.facts import WatchConfig
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobState
from mcp_servers.aiqu.backends.ray import RayScheduler
from mcp_servers.aiqu.backends.ray_api import RayDashboard
from tests.conftest import ROOT
from tests.ray.cluster import RayHead
from tests.ray.conftest import job_when, sh
from tests.watch.conftest import open_world, until_items

pytestmark = pytest.mark.ray

CONFIG = WatchConfig(grace_s=1.0, silence_factor=3, silence_min_s=900)
# The shortest time limit is a minute; the watch process looks every few seconds.
TIME_LIMIT_WAIT_S = 150


@pytest.fixture
def watch_env(skill_env: dict[str, str]) -> dict[str, str]:
    """What the service hands the aiqu watch process, pointed at this head."""
    given = {**skill_env, "MLOPS_SCHEDULER": "ray", "PYTHONPATH": str(ROOT)}
    return SkillEnvironment.from_env(given).to_env()


async def test_a_time_limit_a_kill_and_a_stop_each_give_one_item_with_rays_words(
    ray: RayScheduler,
    ray_head: RayHead,
    watch_env: dict[str, str],
    state_dir: Path,
    tmp_path: Path,
) -> None:
    release = tmp_path / "release"
    # Dies by SIGKILL once released, as the OOM killer ends a job: no word from it.
    dies = f"while [ ! -e {shlex.quote(str(release))} ]; do sleep 0.2; done; kill -9 $$"
    timed = ray.submit(sh("sleep 600", name="cust/timed", time_limit_min=1))
    killed = ray.submit(sh(dies, name="cust/killed"))
    theirs = {
        name: ray_head.submit("exec sleep 600", runtime_env={"env_vars": {"MLOPS_JOB": name}})
        for name in ("alice/reported", "alice/unknown", "team-x/nightly")
    }
    for job_id in (timed.id, killed.id, *theirs.values()):
        job_when(ray, job_id, lambda j: j.state is JobState.RUNNING)
    async with open_world(state_dir, watch_env) as world:
        await world.event("alice/reported", "epoch", epoch=1)
        watcher = world.watcher(CONFIG, globs=["team-x/**"])  # MLOPS_WATCH_JOBS
        await watcher.run_once()  # sees them all running
        release.touch()
        for job_id in theirs.values():  # someone stops them on the cluster
            ray_head.request("POST", f"/api/jobs/{job_id}/stop")

        # Nobody but the watch process looks at the timed job: it stops it at its limit.
        await until_items(world, watcher, 4, timeout_s=TIME_LIMIT_WAIT_S)
        await until_items(world, watcher, 99, timeout_s=3)  # and nothing more comes

        items = {i["dedupe_key"]: json.loads(i["payload"]) for i in await world.items()}
    reported, nightly = theirs["alice/reported"], theirs["team-x/nightly"]
    assert sorted(items) == sorted(
        f"watch:{i}:1.0:ended" for i in (timed.id, killed.id, reported, nightly)
    )
    timeout = items[f"watch:{timed.id}:1.0:ended"]
    assert (timeout["raw_state"], timeout["state"]) == ("STOPPED", "failed")
    assert "state STOPPED (failed), reason 'time limit of 1 min reached'" in timeout["text"]
    assert "(time limit 1 min)" in timeout["text"]
    death = items[f"watch:{killed.id}:1.0:ended"]
    assert (death["raw_state"], death["state"], death["exit_code"]) == ("FAILED", "failed", -9)
    for job_id in (reported, nightly):
        words = items[f"watch:{job_id}:1.0:ended"]
        assert (words["raw_state"], words["state"]) == ("STOPPED", "cancelled")
        assert "reason 'Job was intentionally stopped.'" in words["text"], words["text"]
    assert items[f"watch:{reported}:1.0:ended"]["job"] == "alice/reported"
    assert "Last event: epoch epoch=1" in items[f"watch:{reported}:1.0:ended"]["text"]


def test_a_pass_is_one_request_to_ray_however_many_jobs_it_holds(
    ray: RayScheduler, ray_head: RayHead, state_dir: Path
) -> None:
    ended = ray.submit(sh("true", name="cust/ended"))
    running = ray.submit(sh("sleep 60", name="cust/running"))
    theirs = ray_head.submit("exec sleep 60", runtime_env={"env_vars": {"MLOPS_JOB": "bob/x"}})
    job_when(ray, ended.id, lambda j: not j.state.active)
    for job_id in (running.id, theirs):
        job_when(ray, job_id, lambda j: j.state is JobState.RUNNING)
    sent: list[str] = []
    counting = RayDashboard(ray_head.url)
    counting._http.event_hooks["request"].append(lambda r: sent.append(f"{r.method} {r.url.path}"))
    watcher_side = RayScheduler(state_dir, counting)
    try:
        jobs = watcher_side.snapshot([], time.time() - 3600, lambda name: name == "bob/x")
    finally:
        watcher_side.close()

    assert sent == ["GET /api/jobs/"]
    assert {j.id for j in jobs} >= {ended.id, running.id, theirs}
