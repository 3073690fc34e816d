"""Benchmark: one scheduler watcher pass, against the scheduler read it makes, in the same run.

    .venv/bin/python bench/bench_watch.py [--part local slurm] [--runs 20]
        [--jobs 40] [--events 200] [--held 1000]

- local: 40 watched running jobs on the local backend (real `sleep` processes),
  each with 200 events in the inbox. Median of one pass of the supervisor's
  `Watcher.run_once()` (inbox scan, the aiqu watch process's snapshot over its
  pipe, each job's latest events, facts, memory), next to the same snapshot
  read in-process (`LocalScheduler.snapshot()`) and the aiqu tools' own read
  (`list(include_finished=False)`).
- slurm (root, podman; the test harness's containers, tests/slurm/cluster.py):
  real Slurm 24.11 holding 1,000 jobs of someone else (held, pending) and 20 of
  ours (10 running, 10 finished). Median of one pass, next to the raw
  `squeue --json --states=all` the pass makes (same namespace prefix, same
  output), taking turns. Target (issue 23): pass ≤ 1.2 × raw.

Every process and container it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.watch.facts import WatchConfig  # noqa: E402
from core.skill_env import SkillEnvironment  # noqa: E402
from mcp_servers.aiqu.backends.base import JobSpec, JobState  # noqa: E402
from mcp_servers.aiqu.backends.local import LocalScheduler  # noqa: E402
from tests.aiqu.conftest import kill_leftovers  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.watch.conftest import World, open_world, skill_env  # noqa: E402

Timed = Callable[[], Awaitable[object]]
CONFIG = WatchConfig()  # the defaults: 60 s grace, 3 × median, 15 min minimum


async def medians_ms(calls: dict[str, Timed], runs: int) -> dict[str, float]:
    """Median latency of each call; the calls take turns so load drifts hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for fn in calls.values():
        await fn()  # warm up
    for _ in range(runs):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            await fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def report(title: str, ms: dict[str, float], rows: list[tuple[str, str]], base: str) -> None:
    print(title)
    for label, key in rows:
        print(f"  {label:52s} {ms[key]:8.1f} ms  ({ms[key] / ms[base]:.2f}x baseline)")


async def seed_events(world: World, names: list[str], per_job: int) -> None:
    for name in names:
        await asyncio.gather(
            *(world.event(name, "epoch", attempt=1, epoch=n, total=per_job) for n in range(per_job))
        )


async def local(jobs: int, events: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-watch-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        scheduler = LocalScheduler(state, 0, env=skill_env(state), poll_interval_s=0.5)
        try:
            names = [f"team/run-{i:02d}" for i in range(jobs)]
            for name in names:
                scheduler.submit(JobSpec(name, ["sleep", "600"], labels={"submitted_by": "ann"}))
            _wait(lambda: len(scheduler.list(include_finished=False)) == jobs, 60)
            async with open_world(state, skill_env(state).to_env()) as world:
                t0 = time.perf_counter()
                await seed_events(world, names, events)
                seeded = time.perf_counter() - t0
                watcher = world.watcher(CONFIG)
                await watcher.run_once()
                ms = await medians_ms(
                    {
                        "list": lambda: asyncio.to_thread(scheduler.list, include_finished=False),
                        "snapshot": lambda: asyncio.to_thread(scheduler.snapshot),
                        "probe": lambda: world.probe.ask({"since": time.time()}),
                        "pass": watcher.run_once,
                    },
                    runs,
                )
                told = len(await world.items())
        finally:
            scheduler.close()
            kill_leftovers(state)
    print(f"== local: {jobs} running jobs, {jobs * events} events seeded in {seeded:.1f} s")
    report(
        f"median of {runs} (facts filed: {told}):",
        ms,
        [
            ("baseline LocalScheduler.list(include_finished=False)", "list"),
            ("LocalScheduler.snapshot() in-process", "snapshot"),
            ("the aiqu watch process's answer (pipe, JSON)", "probe"),
            ("one watcher pass (Watcher.run_once)", "pass"),
        ],
        "list",
    )


async def slurm(held: int, runs: int) -> None:
    from mcp_servers.aiqu.backends.slurm import SlurmScheduler
    from tests.slurm.cluster import start_cluster
    from tests.slurm.podman import missing_tools

    if os.geteuid() != 0 or (reason := missing_tools()):
        print(f"== slurm: skipped ({'needs root' if os.geteuid() != 0 else reason})")
        return
    with tempfile.TemporaryDirectory(prefix="mlops-bench-watch-slurm-") as tmp:
        t0 = time.perf_counter()
        cluster = start_cluster("24.11", gpus=2, min_job_age_s=3600, shared=[Path(tmp)])
        started = time.perf_counter() - t0
        try:
            state = Path(tmp) / "state"
            state.mkdir()
            env = {**os.environ, **cluster.env(), "MLOPS_STATE_DIR": str(state)}
            scheduler = SlurmScheduler.from_env(SkillEnvironment.from_env(env))
            # One sbatch each: a pending array would be one record until it is split.
            queue = cluster.run(
                "sh", "-c",
                f"for i in $(seq {held}); do sbatch --hold --job-name=someone-else-$i"
                f" --chdir={tmp} --output=/dev/null --wrap=true >/dev/null || exit 1; done",
                timeout=600,
            )  # fmt: skip
            if queue.returncode != 0:
                raise RuntimeError(f"sbatch --hold failed: {queue.stderr}")
            done = [scheduler.submit(JobSpec(f"team/done-{i}", ["true"])) for i in range(10)]
            _wait(lambda: all(not scheduler.get(j.id).state.active for j in done), 120)
            for i in range(10):
                scheduler.submit(JobSpec(f"team/run-{i}", ["sleep", "600"]))
            _wait(lambda: sum(j.state is JobState.RUNNING for j in scheduler.list()) == 10, 60)
            probe_env = SkillEnvironment.from_env(
                {**env, "MLOPS_SCHEDULER": "slurm", "PYTHONPATH": str(ROOT)}
            ).to_env()
            argv = [*cluster.command_prefix, "squeue", "--json", "--states=all"]
            squeue_env = {**os.environ, "SLURM_CONF": str(cluster.conf)}
            size = len(subprocess.run(argv, env=squeue_env, capture_output=True).stdout)
            async with open_world(state, probe_env) as world:
                watcher = world.watcher(CONFIG)
                await watcher.run_once()
                ms = await medians_ms(
                    {
                        "raw": lambda: asyncio.to_thread(
                            subprocess.run, argv, env=squeue_env, capture_output=True
                        ),
                        # As the watch process asks: no one else's job is watched here.
                        "snapshot": lambda: asyncio.to_thread(
                            scheduler.snapshot, (), time.time(), lambda _: False
                        ),
                        "probe": lambda: world.probe.ask({"since": time.time()}),
                        "pass": watcher.run_once,
                    },
                    runs,
                )
        finally:
            cluster.stop()
    print(
        f"== slurm 24.11: container up in {started:.1f} s; slurmctld holds {held} jobs of"
        f" someone else + 20 of ours; `squeue --json --states=all` prints {size / 1e6:.1f} MB"
    )
    report(
        f"median of {runs}:",
        ms,
        [
            ("baseline raw `squeue --json --states=all`", "raw"),
            ("SlurmScheduler.snapshot() in-process", "snapshot"),
            ("the aiqu watch process's answer (pipe, JSON)", "probe"),
            ("one watcher pass (Watcher.run_once)", "pass"),
        ],
        "raw",
    )


def _wait(ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled within {timeout_s} s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["local", "slurm"], choices=["local", "slurm"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--held", type=int, default=1000)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "local" in args.part:
        asyncio.run(local(args.jobs, args.events, args.runs))
    if "slurm" in args.part:
        asyncio.run(slurm(args.held, args.runs))


if __name__ == "__main__":
    main()
