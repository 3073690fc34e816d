"""The supervisor's watcher over real Slurm 22.05 and 24.11: the real aiqu watch process, one
`squeue --json` per pass, facts with Slurm's own state and reason.

Which jobs are watched is checked here too, where other people's jobs exist:
a job someone submitted with sbatch is watched once it reported, or when its name
matches MLOPS_WATCH_JOBS, not otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.watch.facts import WatchConfig
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobState
from mcp_servers.aiqu.backends.slurm import SlurmScheduler
from tests.conftest import ROOT
from tests.slurm.cluster import SlurmCluster
from tests.slurm.test_slurm_backend import foreign, in_state, sh
from tests.watch.conftest import open_world, until_items

pytestmark = pytest.mark.slurm

CONFIG = WatchConfig(grace_s=1.0, silence_factor=3, silence_min_s=900)
# Slurm checks time limits about every 30 s, and the shortest limit is a minute.
TIME_LIMIT_WAIT_S = 180


@pytest.fixture
def watch_env(skill_env: dict[str, str]) -> dict[str, str]:
    """What the service hands the aiqu watch process, pointed at this cluster."""
    given = {**skill_env, "MLOPS_SCHEDULER": "slurm", "PYTHONPATH": str(ROOT)}
    return SkillEnvironment.from_env(given).to_env()


async def test_a_time_limit_and_a_kill_each_give_one_item_with_slurms_words(
    scheduler: SlurmScheduler,
    slurm_cluster: SlurmCluster,
    watch_env: dict[str, str],
    state_dir: Path,
) -> None:
    timed = scheduler.submit(sh("sleep 600", name="cust/timed", time_limit_min=1))
    killed = scheduler.submit(sh("sleep 600", name="cust/killed"))
    theirs_reported = foreign(slurm_cluster, "alice/reported", script="sleep 600")
    theirs_silent = foreign(slurm_cluster, "alice/unknown", script="sleep 600")
    theirs_globbed = foreign(slurm_cluster, "team-x/nightly", script="sleep 600")
    for job_id in (timed.id, killed.id):
        in_state(scheduler, job_id, JobState.RUNNING)
    async with open_world(state_dir, watch_env) as world:
        await world.event("alice/reported", "epoch", epoch=1)
        watcher = world.watcher(CONFIG, globs=["team-x/**"])  # MLOPS_WATCH_JOBS
        await watcher.run_once()  # sees them all running
        for job_id in (killed.id, theirs_reported, theirs_silent, theirs_globbed):
            done = slurm_cluster.run("scancel", "--signal=KILL", job_id)
            assert done.returncode == 0, done.stderr

        await until_items(world, watcher, 4, timeout_s=TIME_LIMIT_WAIT_S)
        await until_items(world, watcher, 99, timeout_s=3)  # and nothing more comes

        items = {i["dedupe_key"]: json.loads(i["payload"]) for i in await world.items()}
    assert sorted(items) == sorted(
        f"watch:{i}:1.0:ended" for i in (timed.id, killed.id, theirs_reported, theirs_globbed)
    )
    timeout = items[f"watch:{timed.id}:1.0:ended"]
    assert (timeout["raw_state"], timeout["state"]) == ("TIMEOUT", "failed")
    assert "state TIMEOUT (failed), reason 'TimeLimit'" in timeout["text"], timeout["text"]
    assert "(time limit 1 min)" in timeout["text"]
    for job_id in (killed.id, theirs_reported):
        # Slurm turns `scancel --signal=KILL` into a cancel (SIGTERM, then SIGKILL after
        # KillWait): what it says is CANCELLED, with the signal its step ended by.
        words = items[f"watch:{job_id}:1.0:ended"]
        assert (words["raw_state"], words["state"]) == ("CANCELLED", "cancelled")
        assert "state CANCELLED (cancelled)" in words["text"], words["text"]
    reported = items[f"watch:{theirs_reported}:1.0:ended"]
    assert reported["job"] == "alice/reported" and "Last event: epoch epoch=1" in reported["text"]


async def test_a_job_slurm_requeues_itself_is_one_item_per_restart(
    scheduler: SlurmScheduler,
    slurm_cluster: SlurmCluster,
    watch_env: dict[str, str],
    state_dir: Path,
) -> None:
    job = scheduler.submit(sh("sleep 600", name="cust/preempted"))
    in_state(scheduler, job.id, JobState.RUNNING)
    async with open_world(state_dir, watch_env) as world:
        watcher = world.watcher(CONFIG)
        await watcher.run_once()
        done = slurm_cluster.run("scontrol", "requeue", job.id)  # what a preemption does
        assert done.returncode == 0, done.stderr

        await until_items(world, watcher, 1, timeout_s=30)
        await until_items(world, watcher, 99, timeout_s=3)

        items = await world.items()
    assert [i["dedupe_key"] for i in items] == [f"watch:{job.id}:1.1:requeued"]
    text = json.loads(items[0]["payload"])["text"]
    assert "put back in the queue by the scheduler itself (restart 1)" in text, text
