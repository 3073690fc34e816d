"""Sweep fixtures: a real local scheduler (aiqu's fixtures), a person's base job, a SweepBook."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcp_servers.aiqu.backends.base import Job
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps.book import SweepBook
from mcp_servers.aiqu.sweeps.quiet import QuietHours
from tests.aiqu.conftest import make_local, make_skill, spec  # noqa: F401  (fixtures)

# The job echoes its --key=value arguments, then sleeps as long as --sleep says.
TRIAL_CODE = (
    "import sys, time\n"
    "args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('--'))\n"
    "print('args', sorted(args.items()), flush=True)\n"
    "time.sleep(float(args.get('sleep', 0)))\n"
)


@pytest.fixture
def skill(make_skill: Callable[..., AiquSkill], book: SweepBook) -> AiquSkill:  # noqa: F811
    """A skill whose sweep tools work on `book`."""
    return make_skill(max_jobs=10, max_gpu_hours=8.0, book=book)


@pytest.fixture
def base_job(skill: AiquSkill) -> Job:
    """A person's finished 1-GPU job: what every trial clones."""
    job = skill.scheduler.submit(
        spec("team/train", TRIAL_CODE, gpus=1, labels={"submitted_by": "alice"})
    )
    deadline = time.monotonic() + 15
    while skill.scheduler.get(job.id).state.active:
        assert time.monotonic() < deadline, "base job did not finish"
        time.sleep(0.05)
    return skill.scheduler.get(job.id)


@pytest.fixture
def make_book(state_dir: Path) -> Iterator[Callable[..., SweepBook]]:
    books: list[SweepBook] = []

    def make(
        quiet_hours: QuietHours | None = None, clock: Callable[[], float] = time.time
    ) -> SweepBook:
        book = SweepBook(state_dir, quiet_hours, clock)
        books.append(book)
        return book

    yield make
    for book in books:
        book.close()


@pytest.fixture
def book(make_book: Callable[..., SweepBook]) -> SweepBook:
    return make_book()
