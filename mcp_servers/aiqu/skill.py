"""The aiqu skill's injected client, built from the skill environment.

Every tool function takes an `AiquSkill` first: the backend that runs the jobs,
the agent's budget, the write gate for stopping someone else's job, and the
sweeps (whose database is opened at their first use).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.ledger import LedgerError
from core.proposals import NO_CONTEXT, GateContext, GatedProposals
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.settings import AiquSettings

from .backends.base import Health, Scheduler, SchedulerError
from .backends.local import LocalScheduler
from .budget import AgentBudget, BudgetLimits
from .errors import InvalidRequest
from .models import AgentUsage
from .ownership import is_agent_owned

if TYPE_CHECKING:
    from .sweeps.book import SweepBook

log = logging.getLogger(__name__)

BACKENDS = ("local", "slurm", "ray")
# The backends for a cluster, each with its own settings (read in its `from_env`).
REMOTE = {
    "slurm": ("mcp_servers.aiqu.backends.slurm", "SlurmScheduler"),
    "ray": ("mcp_servers.aiqu.backends.ray", "RayScheduler"),
}


@dataclass
class AiquSkill:
    scheduler: Scheduler
    budget: AgentBudget
    # Stopping someone else's job files a proposal here; None: it is refused outright.
    proposals: GatedProposals | None = None
    book: SweepBook | None = None

    @classmethod
    def from_env(cls, env: SkillEnvironment, context: GateContext = NO_CONTEXT) -> AiquSkill:
        """The configured backend, the budget ledger in `<state_dir>/aiqu/`, the service's
        guard ledger when there is one, and the state dir's sweeps. `context`: what
        its gate knows of the other skills (`mcp_servers.registry.gate_context`)."""
        from .sweeps.book import SweepBook  # Optuna: only once a skill is really built

        return cls(
            make_scheduler(env),
            AgentBudget(env.state, BudgetLimits.from_env(env)),
            cancel_gate(env, context),
            SweepBook.from_env(env),
        )

    @property
    def sweeps(self) -> SweepBook:
        if self.book is None:
            raise InvalidRequest("this aiqu server runs no sweeps")
        return self.book

    def start(self) -> None:
        """The local backend's dispatcher: pending jobs start when GPUs free up."""
        start = getattr(self.scheduler, "start", None)
        if callable(start):
            start()

    def close(self) -> None:
        close = getattr(self.scheduler, "close", None)
        if callable(close):
            close()
        self.budget.close()
        if self.book is not None:
            self.book.close()

    def agent_usage(self) -> AgentUsage:
        usage = self.budget.usage(self.count_active_agent_jobs)
        limits = self.budget.limits
        return AgentUsage(
            active_jobs=usage.active_jobs,
            max_jobs=limits.max_jobs,
            gpu_hours_24h=round(usage.gpu_hours_24h, 2),
            max_gpu_hours_24h=limits.max_gpu_hours,
        )

    def count_active_agent_jobs(self, started_by_agent: set[str]) -> int:
        # Labelled by the agent, or started by it (a requeue keeps the owner's label).
        active = self.scheduler.list(include_finished=False)
        return sum(1 for j in active if is_agent_owned(j) or j.id in started_by_agent)


def make_scheduler(env: SkillEnvironment) -> Scheduler:
    """`MLOPS_SCHEDULER` = local (default) | slurm | ray."""
    backend = AiquSettings.from_env(env).scheduler
    if backend == "local":
        return LocalScheduler.from_env(env)
    if backend in REMOTE:
        # Imported only when chosen: the local default needs nothing of Slurm or Ray.
        module, cls = REMOTE[backend]
        scheduler: Scheduler = getattr(importlib.import_module(module), cls).from_env(env)
        return scheduler
    raise SchedulerError(f"MLOPS_SCHEDULER must be one of {', '.join(BACKENDS)}; got {backend!r}")


def cancel_gate(env: SkillEnvironment, context: GateContext) -> GatedProposals | None:
    """The write gate on the ledger the service made; None when there is none (then
    someone else's job is simply refused)."""
    try:
        return GatedProposals.from_env(env, context)
    except LedgerError as exc:
        log.warning("%s; cancelling others' jobs is refused", exc)
        return None


def health(env: SkillEnvironment) -> Health:
    """For `mlops-agent doctor`: can the configured backend be reached and used?"""
    try:
        scheduler = make_scheduler(env)
    except Exception as exc:  # doctor reports every failure as a line, never a traceback
        return Health(False, f"aiqu: cannot start the scheduler backend: {exc}")
    try:
        return scheduler.health()
    except Exception as exc:
        return Health(False, f"aiqu: backend health check failed: {exc}")
    finally:
        close = getattr(scheduler, "close", None)
        if callable(close):
            close()
