"""What a skill that keeps sweeps lets the supervisor read: plain records, read-only.

The supervisor ticks active sweeps, routes a sweep's conversation by its base job,
lists sweeps in the digest and shows them on the web page. It reads them through
the skill's plugin (`Skill.sweeps`), never loading the skill or its libraries; these
records are the shape both sides share.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SweepRecord:
    id: str
    spec: dict[str, Any]
    status: str  # active | paused | stopped | finished
    created: float
    updated: float
    status_note: str | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> SweepRecord:
        return cls(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5])


@dataclass(frozen=True)
class Trial:
    number: int
    state: str  # running | complete | pruned | fail | waiting
    value: float | None
    params: dict[str, Any]
    job_id: str | None


@dataclass(frozen=True)
class SweepView:
    record: SweepRecord
    trials: list[Trial] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return self.record.spec

    @property
    def started(self) -> int:
        return sum(t.state != "waiting" for t in self.trials)

    @property
    def running(self) -> int:
        return sum(t.state == "running" for t in self.trials)

    def count(self, state: str) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def best(self) -> Trial | None:
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        if not done:
            return None
        pick = max if self.spec.get("direction") == "maximize" else min
        return pick(done, key=lambda t: float(t.value or 0.0))


@dataclass(frozen=True)
class SweepsReader:
    """A skill's sweeps in a state dir, newest first; none when it never started one."""

    records: Callable[[Path], list[SweepRecord]]
    views: Callable[[Path], list[SweepView]]  # with their trials
