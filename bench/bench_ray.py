"""Benchmark: the Ray backend's `list_jobs` on a real Ray head holding 1,000 finished jobs.

    .venv/bin/python bench/bench_ray.py [--finished 1000] [--runs 30]
    (root, `make install-ray`: the test harness's head, tests/ray/cluster.py)

One Ray 2.60 head (two fake GPUs, in a network namespace of its own, its
dashboard relayed to loopback). Through the backend: a few real jobs (finished,
2 running on the two GPUs, 1 pending behind them). Then the finished jobs:

- part 1: `--finished` jobs of ours (submitted through aiqu, in its index);
- part 2: as many again of someone else's, on top (Ray then holds twice as many).

A real job costs Ray a worker process (~3 s of a loaded core each), so the
finished ones are copies of one real finished job of ours, written into the
head's job table with Ray's own storage client (`JobInfoStorageClient`, run with
`.venv-ray`'s Python inside the head's namespace), each with its own submission
id: the dashboard lists them exactly as it lists jobs that ran. Then the median
latency, the calls taking turns, of:

- baseline: the raw `GET /api/jobs/` every one of these calls makes (the same
  keep-alive httpx client, body read, not parsed), and the same parsed (orjson);
  wall time, and this process's CPU time (what the backend adds, on a machine
  where the dashboard waits for a core);
- `RayScheduler.list()`, the aiqu `list_jobs` tool as a plain function (30
  rows of all), `list(include_finished=False)` (queue_overview, budgets), a
  watch pass's `snapshot()` (following one running job, asking for ends since the
  seeding) and `get(<a running job>)`.

The head is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
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

import httpx  # noqa: E402
import orjson  # noqa: E402

from core.skill_env import SkillEnvironment  # noqa: E402
from mcp_servers.aiqu.backends.base import JobSpec, JobState  # noqa: E402
from mcp_servers.aiqu.backends.ray import RayScheduler  # noqa: E402
from mcp_servers.aiqu.backends.ray_index import RayIndex  # noqa: E402
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits  # noqa: E402
from mcp_servers.aiqu.jobs import list_jobs  # noqa: E402
from mcp_servers.aiqu.skill import AiquSkill  # noqa: E402
from tests.ray.cluster import RAY_VENV, RayHead, missing_tools, start_head  # noqa: E402
from tests.ray.launch import GCS_PORT  # noqa: E402

AGENT = {"submitted_by": "agent", "sweep": "lr-sweep-3"}
# Runs with .venv-ray's Python in the head's namespace: copies of one real job's record.
COPY = """
import asyncio, dataclasses, sys
from ray._raylet import GcsClient
from ray.dashboard.modules.job.common import JobInfoStorageClient

template, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

async def main():
    storage = JobInfoStorageClient(GcsClient(address=sys.argv[4]))
    info = await storage.get_info(template)
    env = dict(info.runtime_env["env_vars"])
    async def put(i):
        sid = f"{prefix}{i:06d}"
        runtime_env = {**info.runtime_env, "env_vars": {**env, "MLOPS_JOB_ID": sid}}
        await storage.put_info(sid, dataclasses.replace(info, runtime_env=runtime_env))
    for start in range(0, count, 100):
        await asyncio.gather(*(put(i) for i in range(start, min(count, start + 100))))

asyncio.run(main())
"""


def copy_jobs(head: RayHead, template: str, prefix: str, count: int) -> None:
    done = subprocess.run(
        ["nsenter", f"--net=/proc/{head.process.pid}/ns/net",
         str(RAY_VENV / "bin" / "python"), "-c", COPY, template, prefix, str(count),
         f"127.0.0.1:{GCS_PORT}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"copying job records failed: {done.stderr[-2000:]}")


def remember_as_ours(state_dir: Path, template: JobSpec, prefix: str, count: int) -> None:
    """The index rows aiqu would have written had it submitted the copies."""
    index = RayIndex(state_dir)
    with index.submitting(template.name) as (attempt, conn):
        for i in range(count):
            index.add(conn, f"{prefix}{i:06d}", template, attempt + i, time.time())


def running(scheduler: RayScheduler) -> int:
    return sum(j.state is JobState.RUNNING for j in scheduler.list(include_finished=False))


def wait(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s} s")
        time.sleep(0.5)


def medians_ms(
    calls: dict[str, Callable[[], object]], runs: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall time and median CPU time of this process per call; the calls take turns
    so that load drifts hit all alike. On a loaded machine the wall time is mostly the
    dashboard's (another process, waiting for a core); the CPU time is the client's own."""
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for fn in calls.values():
        fn()  # warm up (the first list writes the copies' final states into the index)
    for _ in range(runs):
        for name, fn in calls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    return (
        {name: statistics.median(t) * 1000 for name, t in wall.items()},
        {name: statistics.median(t) * 1000 for name, t in cpu.items()},
    )


def measure(
    head: RayHead, scheduler: RayScheduler, skill: AiquSkill, runs: int, since: float
) -> None:
    """`since`: what a watch pass asks for ends after (its previous pass, seeding done)."""
    busy = next(j for j in scheduler.list(include_finished=False) if j.state is JobState.RUNNING)
    raw = httpx.Client(base_url=head.url, timeout=60)
    body = raw.get("/api/jobs/").content
    try:
        ms, cpu = medians_ms(
            {
                "raw": lambda: raw.get("/api/jobs/").content,
                "parsed": lambda: orjson.loads(raw.get("/api/jobs/").content),
                "list": scheduler.list,
                "tool": lambda: list_jobs(skill),
                "active": lambda: scheduler.list(include_finished=False),
                "snapshot": lambda: scheduler.snapshot([busy.id], since, lambda n: False),
                "get": lambda: scheduler.get(busy.id),
            },
            runs,
        )
    finally:
        raw.close()
    listed = scheduler.list()
    held = len(json.loads(body))
    print(
        f"Ray holds {held} jobs; `GET /api/jobs/` answers {len(body) / 1e6:.2f} MB;"
        f" list() returns {len(listed)}; median of {runs}:"
    )
    base = ms["raw"]
    rows = [
        ("baseline raw `GET /api/jobs/`", "raw"),
        ("raw + orjson parse", "parsed"),
        ("RayScheduler.list()", "list"),
        ("list_jobs tool (plain)", "tool"),
        ("list(include_finished=False)", "active"),
        ("snapshot() (a watch pass)", "snapshot"),
        ("get(<running job>)", "get"),
    ]
    print(f"  {'':40s} {'wall':>8s}           {'CPU here':>8s}")
    for label, key in rows:
        print(
            f"  {label:40s} {ms[key]:8.1f} ms ({ms[key] / base:.2f}x)"
            f"  {cpu[key]:8.1f} ms (+{cpu[key] - cpu['raw']:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finished", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        sys.exit(f"bench_ray: {reason}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    head = start_head()
    print(f"head up in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory(prefix="mlops-bench-ray-") as tmp:
        env = {**head.env(), "MLOPS_STATE_DIR": tmp}
        scheduler = RayScheduler.from_env(SkillEnvironment.from_env(env))
        skill = AiquSkill(scheduler, AgentBudget(Path(tmp), BudgetLimits()))
        try:
            t0 = time.perf_counter()
            spec = JobSpec("team/sweep-1", ["sh", "-c", "echo trained"], labels=AGENT)
            done = [scheduler.submit(spec) for _ in range(3)]
            for i in range(3):
                scheduler.submit(JobSpec(f"team/queued-{i}", ["sleep", "600"], gpus=1))
            wait(lambda: all(not scheduler.get(j.id).state.active for j in done), 300, "jobs")
            wait(lambda: running(scheduler) == 2, 300, "both GPUs busy")
            copy_jobs(head, done[0].id, "aiqu-bench-ours-", args.finished)
            remember_as_ours(Path(tmp), spec, "aiqu-bench-ours-", args.finished)
            print(f"seeded in {time.perf_counter() - t0:.0f} s")
            print(f"== part 1: {args.finished} finished jobs of ours")
            measure(head, scheduler, skill, args.runs, time.time())
            copy_jobs(head, done[0].id, "raysubmit_bench_", args.finished)
            print(f"== part 2: and {args.finished} finished jobs of someone else")
            measure(head, scheduler, skill, args.runs, time.time())
        finally:
            skill.budget.close()
            scheduler.close()
            head.stop()


if __name__ == "__main__":
    main()
