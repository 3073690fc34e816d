"""Hard limits on what the agent may start on its own, whatever backend runs the jobs.

Two limits, both code, never prompt:
- concurrent jobs: the agent's active (pending or running) jobs, at most
  `MLOPS_AGENT_MAX_JOBS` (default 2);
- GPU-hours: gpus x time limit of every job the agent started (submitted or
  requeued) in the last 24 h, at most `MLOPS_AGENT_GPU_HOURS` (default 8).
  Agent jobs always carry a time limit (`MLOPS_AGENT_DEFAULT_TIME_LIMIT_MIN`,
  default 60, when the agent names none), so this is a bound, not a guess.

The ledger of agent starts is its own sqlite table in `<state_dir>/aiqu/`.
A check and the start it allows happen under one `BEGIN IMMEDIATE`, so two
concurrent submissions cannot both squeeze under the limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.clock import now
from core.skill_env import SkillEnvironment
from core.sqlite import connect, immediate
from mcp_servers.aiqu.settings import AiquSettings

from .errors import BudgetExceeded

WINDOW_S = 24 * 3600

SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_starts (
    job_id TEXT NOT NULL,
    action TEXT NOT NULL,
    gpus INTEGER NOT NULL,
    time_limit_min INTEGER NOT NULL,
    gpu_hours REAL NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_starts_by_time ON agent_starts(started_at);
"""


@dataclass(frozen=True)
class BudgetLimits:
    max_jobs: int = 2
    max_gpu_hours: float = 8.0
    default_time_limit_min: int = 60

    @classmethod
    def from_env(cls, env: SkillEnvironment) -> BudgetLimits:
        s = AiquSettings.from_env(env)
        return cls(s.agent_max_jobs, s.agent_gpu_hours, s.agent_default_time_limit_min)


@dataclass(frozen=True)
class Usage:
    active_jobs: int
    gpu_hours_24h: float


# Counts the agent's active jobs, given the ids the ledger knows it started.
CountActive = Callable[[set[str]], int]


class AgentBudget:
    def __init__(
        self,
        state_dir: Path,
        limits: BudgetLimits,
        clock: Callable[[], float] = now,  # core.clock: virtual in an eval's skills
    ) -> None:
        path = Path(state_dir) / "aiqu" / "budget.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self._clock = clock
        self._conn = connect(path, check_same_thread=False)
        self._conn.executescript(SCHEMA)
        self._lock = threading.RLock()  # tool calls run in worker threads; one connection

    def close(self) -> None:
        self._conn.close()

    def usage(self, count_active: CountActive) -> Usage:
        with self._lock:
            return Usage(count_active(self._started_ids()), self._gpu_hours_in_window())

    @contextmanager
    def spend(
        self, count_active: CountActive, *, gpus: int, time_limit_min: int, action: str
    ) -> Iterator[Callable[[str], None]]:
        """Check both limits for one more start; yield `record(job_id)` to log the start.

        Raises BudgetExceeded, naming current usage and the limit, and changes nothing.
        Nothing is recorded when the body raises (the start failed).
        """
        with self._lock:
            yield from self._spend(count_active, gpus, time_limit_min, action)

    def _spend(
        self, count_active: CountActive, gpus: int, time_limit_min: int, action: str
    ) -> Iterator[Callable[[str], None]]:
        with immediate(self._conn):
            self._check(count_active, gpus * time_limit_min / 60)

            def record(job_id: str) -> None:
                self._conn.execute(
                    "INSERT INTO agent_starts VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        action,
                        gpus,
                        time_limit_min,
                        gpus * time_limit_min / 60,
                        self._clock(),
                    ),
                )

            yield record

    def _check(self, count_active: CountActive, new_gpu_hours: float) -> None:
        active = count_active(self._started_ids())
        if active + 1 > self.limits.max_jobs:
            raise BudgetExceeded(
                f"refused: agent-submitted active jobs would be {active + 1} of"
                f" {self.limits.max_jobs} allowed; wait for one to end or cancel one"
            )
        used = self._gpu_hours_in_window()
        if used + new_gpu_hours > self.limits.max_gpu_hours + 1e-9:
            raise BudgetExceeded(
                f"refused: agent GPU-hours in the last 24 h would be {used + new_gpu_hours:.1f}"
                f" of {self.limits.max_gpu_hours:.1f} allowed ({used:.1f} used, this job"
                f" {new_gpu_hours:.1f}: GPUs x time limit; fewer GPUs or a shorter time limit"
                " may fit)"
            )

    def _started_ids(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT DISTINCT job_id FROM agent_starts")}

    def _gpu_hours_in_window(self) -> float:
        (total,) = self._conn.execute(
            "SELECT COALESCE(SUM(gpu_hours), 0) FROM agent_starts WHERE started_at > ?",
            (self._clock() - WINDOW_S,),
        ).fetchone()
        return float(total)
