"""Benchmark: the aiqu list_jobs tool over a local scheduler holding 200 jobs.

    .venv/bin/python bench/bench_aiqu.py [--jobs 200] [--runs 50]

The state is real: finished jobs that ran as processes, one running job
holding the only GPU, and pending jobs queued behind it. Prints the median
latency of list_jobs as a plain function and through an in-process MCP
client, next to a baseline measured in the same run on the same sqlite file:
one raw `SELECT *` of every job row, no dispatch pass, no objects. Everything
lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import mcp

from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.backends.processes import signal_group
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits
from mcp_servers.aiqu.jobs import list_jobs
from mcp_servers.aiqu.server import build_server
from mcp_servers.aiqu.skill import AiquSkill


def seed(scheduler: LocalScheduler, total: int) -> None:
    finished = total * 3 // 4
    for i in range(finished):
        scheduler.submit(
            JobSpec(
                name=f"team/sweep-{i % 7}",
                command=["true"],
                labels={"submitted_by": "agent" if i % 3 else "ann", "trial": str(i)},
            )
        )
    while any(j.state.active for j in scheduler.list(include_finished=False)):
        time.sleep(0.1)
    hold = [sys.executable, "-c", "import time; time.sleep(600)"]
    for i in range(total - finished):
        scheduler.submit(
            JobSpec(name=f"team/queued-{i}", command=hold, gpus=1, labels={"submitted_by": "ann"})
        )


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def mcp_median_ms(skill: AiquSkill, runs: int) -> float:
    async with mcp.Client(build_server(skill)) as client:
        await client.call_tool("list_jobs", {})
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            result = await client.call_tool("list_jobs", {})
            times.append(time.perf_counter() - t0)
            assert not result.is_error
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        scheduler = LocalScheduler(state, gpus=1)
        skill = AiquSkill(scheduler, AgentBudget(state, BudgetLimits()))
        try:
            t0 = time.perf_counter()
            seed(scheduler, args.jobs)
            print(f"seeded {args.jobs} jobs in {time.perf_counter() - t0:.1f} s")
            db = sqlite3.connect(state / "aiqu" / "local.sqlite")
            raw = median_ms(
                lambda: db.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall(), args.runs
            )
            plain = median_ms(lambda: list_jobs(skill), args.runs)
            over_mcp = asyncio.run(mcp_median_ms(skill, args.runs))
            db.close()
        finally:
            # Pending first: cancelling the running job would start the next one.
            active = scheduler.list(include_finished=False)
            for job in sorted(active, key=lambda j: j.state.value != "pending"):
                scheduler.cancel(job.id)
            conn = sqlite3.connect(state / "aiqu" / "local.sqlite")
            for pid, start in conn.execute("SELECT pid, pid_start FROM jobs WHERE pid IS NOT NULL"):
                signal_group(pid, start, signal.SIGKILL)
            conn.close()
            scheduler.close()
            skill.budget.close()
    print(f"list_jobs over {args.jobs} jobs, median of {args.runs}:")
    print(f"  baseline raw sqlite SELECT *   {raw:7.2f} ms")
    print(f"  list_jobs (plain function)     {plain:7.2f} ms  ({plain / raw:.0f}x baseline)")
    print(f"  list_jobs (MCP, in-process)    {over_mcp:7.2f} ms  ({over_mcp / raw:.0f}x baseline)")


if __name__ == "__main__":
    main()
