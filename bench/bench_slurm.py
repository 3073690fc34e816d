"""Benchmark: listing jobs through the Slurm backend against a real single-node Slurm.

    .venv/bin/python bench/bench_slurm.py [--jobs 20] [--runs 50]     (as root)

Starts munged, slurmctld and slurmd in a private network namespace (the test
harness in tests/slurm/cluster.py), submits `--jobs` jobs through the backend
(three quarters finished, two running on the two fake GPUs, the rest pending
behind them) and prints the median latency of `SlurmScheduler.list()` and of
the aiqu `list_jobs` tool as a plain function, next to a baseline measured in
the same run: the raw `squeue --json` call (same namespace prefix) that
list() itself makes once. Everything is stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The harness lives with the tests; run from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.skill_env import SkillEnvironment  # noqa: E402
from mcp_servers.aiqu.backends.base import JobSpec  # noqa: E402
from mcp_servers.aiqu.backends.slurm import SlurmScheduler  # noqa: E402
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits  # noqa: E402
from mcp_servers.aiqu.jobs import list_jobs  # noqa: E402
from mcp_servers.aiqu.skill import AiquSkill  # noqa: E402
from tests.slurm.cluster import missing_requirements, start_cluster  # noqa: E402


def seed(scheduler: SlurmScheduler, total: int) -> None:
    finished = total * 3 // 4
    for i in range(finished):
        scheduler.submit(
            JobSpec(
                name=f"team/sweep-{i % 7}",
                command=["true"],
                labels={"submitted_by": "agent" if i % 3 else "ann", "trial": str(i)},
            )
        )
    deadline = time.monotonic() + 120
    while any(j.state.active for j in scheduler.list(include_finished=False)):
        if time.monotonic() > deadline:
            raise TimeoutError("seed jobs did not finish within 120 s")
        time.sleep(0.2)
    for i in range(total - finished):
        scheduler.submit(
            JobSpec(
                name=f"team/queued-{i}",
                command=["sleep", "600"],
                gpus=1,
                labels={"submitted_by": "ann"},
            )
        )


def medians_ms(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median latency of each call; the calls take turns so that load drifts hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for fn in calls.values():
        fn()  # warm up
    for _ in range(runs):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    reason = missing_requirements()
    if reason:
        sys.exit(f"bench_slurm: {reason}")
    cluster = start_cluster(gpus=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, **cluster.env(), "MLOPS_STATE_DIR": tmp}
            scheduler = SlurmScheduler.from_env(SkillEnvironment.from_env(env))
            skill = AiquSkill(scheduler, AgentBudget(Path(tmp), BudgetLimits()))
            try:
                t0 = time.perf_counter()
                seed(scheduler, args.jobs)
                print(f"seeded {args.jobs} jobs in {time.perf_counter() - t0:.1f} s")
                squeue = [*cluster.command_prefix, "squeue", "--json"]
                squeue_env = {**os.environ, "SLURM_CONF": str(cluster.conf)}
                ms = medians_ms(
                    {
                        "raw": lambda: subprocess.run(
                            squeue, env=squeue_env, capture_output=True, check=True
                        ),
                        "list": scheduler.list,
                        "tool": lambda: list_jobs(skill),
                    },
                    args.runs,
                )
                states = sorted(j.state.value for j in scheduler.list())
            finally:
                skill.budget.close()
    finally:
        cluster.stop()
    counts = {s: states.count(s) for s in dict.fromkeys(states)}
    print(f"list over {len(states)} Slurm jobs {counts}, median of {args.runs}:")
    raw, listed, tool = ms["raw"], ms["list"], ms["tool"]
    print(f"  baseline raw `squeue --json`   {raw:7.2f} ms")
    print(f"  SlurmScheduler.list()          {listed:7.2f} ms  ({listed / raw:.1f}x baseline)")
    print(f"  list_jobs tool (plain)         {tool:7.2f} ms  ({tool / raw:.1f}x baseline)")


if __name__ == "__main__":
    main()
