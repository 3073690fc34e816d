"""Benchmark: the Slurm backend's reads on real Slurm 22.05 and 24.11 holding 1,000 finished jobs.

    .venv/bin/python bench/bench_slurm.py [--finished 1000] [--runs 20] [--versions 22.05 24.11]
    (root, podman; the test harness's containers, tests/slurm/cluster.py)

Per Slurm release: one container (MinJobAge one hour, so slurmctld holds every
finished job), `--finished` jobs someone else ran and finished (one job array
of `true`), then 20 jobs through the backend (15 finished, 2 running on the two
fake GPUs, 3 pending behind them). Then the median latency of:

- baseline: the raw `squeue --json` the backend asked for on every call
  before (22.05: everything slurmctld holds; 24.11: active jobs only), the
  raw `--states=all` (every held job, 24.11 too) and the raw
  `--states=<active>` the backend asks for now; same namespace prefix;
- `SlurmScheduler.list()` (own jobs, finished ones from the index, plus the
  active jobs of everyone), the aiqu `list_jobs` tool as a plain function,
  `list(include_finished=False)` (what queue_overview and budgets use) and
  `get(<a running job>)`.

22.05's `squeue --json` ignores filters, so there the backend cannot ask for
less; 24.11 honours them. Everything is stopped and removed at the end.
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
from mcp_servers.aiqu.backends.base import JobSpec, JobState  # noqa: E402
from mcp_servers.aiqu.backends.slurm import ACTIVE_FILTER, SlurmScheduler  # noqa: E402
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits  # noqa: E402
from mcp_servers.aiqu.jobs import list_jobs  # noqa: E402
from mcp_servers.aiqu.skill import AiquSkill  # noqa: E402
from tests.slurm.cluster import SlurmCluster, start_cluster  # noqa: E402
from tests.slurm.images import VERSIONS  # noqa: E402
from tests.slurm.podman import missing_tools  # noqa: E402

OWN_JOBS = 20


def seed(cluster: SlurmCluster, scheduler: SlurmScheduler, finished: int, workdir: Path) -> None:
    array = cluster.run(
        "sbatch", "--parsable", "--job-name=someone-elses-sweep", f"--chdir={workdir}",
        "--output=/dev/null", f"--array=1-{finished}", "--wrap=true",
    )  # fmt: skip
    if array.returncode != 0:
        raise RuntimeError(f"sbatch --array failed: {array.stderr}")
    for i in range(OWN_JOBS * 3 // 4):
        scheduler.submit(
            JobSpec(name=f"team/sweep-{i % 7}", command=["true"], labels={"submitted_by": "agent"})
        )
    _wait(lambda: not cluster.run("squeue", "-h", "-o", "%i").stdout.strip(), 600)
    for i in range(OWN_JOBS - OWN_JOBS * 3 // 4):
        scheduler.submit(JobSpec(name=f"team/queued-{i}", command=["sleep", "600"], gpus=1))
    _wait(
        lambda: (
            sum(j.state is JobState.RUNNING for j in scheduler.list(include_finished=False)) == 2
        ),
        60,
    )


def _wait(ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"seed jobs not settled within {timeout_s} s")
        time.sleep(0.5)


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


def bench(version: str, finished: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-slurm-") as tmp:
        t0 = time.perf_counter()
        cluster = start_cluster(version, gpus=2, min_job_age_s=3600, shared=[Path(tmp)])
        started = time.perf_counter() - t0
        try:
            env = {**os.environ, **cluster.env(), "MLOPS_STATE_DIR": tmp}
            scheduler = SlurmScheduler.from_env(SkillEnvironment.from_env(env))
            skill = AiquSkill(scheduler, AgentBudget(Path(tmp), BudgetLimits()))
            try:
                t0 = time.perf_counter()
                seed(cluster, scheduler, finished, Path(tmp))
                seeded = time.perf_counter() - t0
                running = next(
                    j for j in scheduler.list(include_finished=False) if j.state is JobState.RUNNING
                )
                squeue_env = {**os.environ, "SLURM_CONF": str(cluster.conf)}

                def raw(*args: str) -> Callable[[], object]:
                    argv = [*cluster.command_prefix, "squeue", "--json", *args]
                    return lambda: subprocess.run(argv, env=squeue_env, capture_output=True)

                held = raw("--states=all")().stdout  # type: ignore[attr-defined]
                ms = medians_ms(
                    {
                        "raw": raw(),
                        "raw-all": raw("--states=all"),
                        "raw-active": raw(f"--states={ACTIVE_FILTER}"),
                        "list": scheduler.list,
                        "tool": lambda: list_jobs(skill),
                        "active": lambda: scheduler.list(include_finished=False),
                        "get": lambda: scheduler.get(running.id),
                    },
                    runs,
                )
                listed = scheduler.list()
            finally:
                skill.budget.close()
        finally:
            cluster.stop()
    states = sorted(j.state.value for j in listed)
    counts = {s: states.count(s) for s in dict.fromkeys(states)}
    print(f"== Slurm {version}: container up in {started:.1f} s, seeded in {seeded:.0f} s")
    print(
        f"slurmctld holds {finished} finished jobs of someone else + {OWN_JOBS} of ours;"
        f" `squeue --json --states=all` prints {len(held) / 1e6:.1f} MB"
    )
    print(f"list() returns {len(listed)} jobs {counts}; median of {runs}:")
    base = ms["raw"]
    rows = [
        ("baseline raw `squeue --json`", "raw"),
        ("raw `squeue --json --states=all`", "raw-all"),
        ("raw `squeue --json --states=<active>`", "raw-active"),
        ("SlurmScheduler.list()", "list"),
        ("list_jobs tool (plain)", "tool"),
        ("list(include_finished=False)", "active"),
        ("get(<running job>)", "get"),
    ]
    for label, key in rows:
        print(f"  {label:40s} {ms[key]:8.1f} ms  ({ms[key] / base:.2f}x baseline)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finished", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS), choices=VERSIONS)
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        sys.exit(f"bench_slurm: {reason}")
    for version in args.versions:
        bench(version, args.finished, args.runs)


if __name__ == "__main__":
    main()
