"""Fixtures for the aiqu skill: real local schedulers on a temp state dir, real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.proposals import GatedProposals
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import Job, JobSpec, Scheduler
from mcp_servers.aiqu.backends.local import LocalScheduler
from mcp_servers.aiqu.backends.processes import signal_group
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps.book import SweepBook

PY = sys.executable


def py(code: str) -> list[str]:
    """A job command running a snippet of Python (no shell involved)."""
    return [PY, "-c", code]


def spec(name: str = "team/train", code: str = "pass", **kw: object) -> JobSpec:
    return JobSpec(name=name, command=py(code), **kw)  # type: ignore[arg-type]


def wait_for(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_state(scheduler: Scheduler, job_id: str, *states: str, timeout: float = 15.0) -> Job:
    wait_for(lambda: scheduler.get(job_id).state.value in states, timeout, f"job {job_id} {states}")
    return scheduler.get(job_id)


def kill_leftovers(state_dir: Path) -> None:
    """Kill every job process a test left running (SIGKILL to its process group)."""
    db = state_dir / "aiqu" / "local.sqlite"
    if not db.exists():
        return
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT pid, pid_start FROM jobs WHERE pid IS NOT NULL").fetchall()
    finally:
        conn.close()
    for pid, start in rows:
        signal_group(pid, start, signal.SIGKILL)


@pytest.fixture
def make_local(state_dir: Path) -> Iterator[Callable[..., LocalScheduler]]:
    """Build LocalSchedulers on the test's state dir (fast polling, 1 s cancel grace)."""
    made: list[LocalScheduler] = []

    def make(gpus: int = 2, *, start: bool = True, **kw: object) -> LocalScheduler:
        kw.setdefault("poll_interval_s", 0.05)
        kw.setdefault("cancel_grace_s", 1.0)
        # Jobs inherit what the skill process would give them: this test's environment.
        kw.setdefault("env", SkillEnvironment.from_env(os.environ))
        scheduler = LocalScheduler(state_dir, gpus, **kw)  # type: ignore[arg-type]
        made.append(scheduler)
        if start:
            scheduler.start()
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()
    kill_leftovers(state_dir)


@pytest.fixture
def local(make_local: Callable[..., LocalScheduler]) -> LocalScheduler:
    return make_local(2)


@pytest.fixture
def make_skill(
    state_dir: Path, make_local: Callable[..., LocalScheduler]
) -> Iterator[Callable[..., AiquSkill]]:
    budgets: list[AgentBudget] = []

    def make(
        gpus: int = 2,
        clock: Callable[[], float] = time.time,
        proposals: GatedProposals | None = None,
        book: SweepBook | None = None,
        **limits: object,
    ) -> AiquSkill:
        budget = AgentBudget(state_dir, BudgetLimits(**limits), clock=clock)  # type: ignore[arg-type]
        budgets.append(budget)
        return AiquSkill(make_local(gpus), budget, proposals, book)

    yield make
    for budget in budgets:
        budget.close()


@pytest.fixture
def skill(make_skill: Callable[..., AiquSkill]) -> AiquSkill:
    return make_skill()
