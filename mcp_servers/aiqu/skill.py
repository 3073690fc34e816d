"""Build the skill from the environment: which backend, which limits."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from .backends.base import Health, Scheduler, SchedulerError
from .backends.local import LocalScheduler
from .budget import AgentBudget, BudgetLimits
from .jobs import AiquSkill

BACKENDS = ("local", "slurm")


def make_scheduler(env: Mapping[str, str]) -> Scheduler:
    """`MLOPS_SCHEDULER` = local (default) | slurm."""
    kind = env.get("MLOPS_SCHEDULER") or "local"
    if kind == "local":
        return LocalScheduler.from_env(env)
    if kind == "slurm":
        # Imported only when chosen: the local default needs nothing of Slurm.
        slurm = importlib.import_module("mcp_servers.aiqu.backends.slurm")
        scheduler: Scheduler = slurm.SlurmScheduler.from_env(env)
        return scheduler
    raise SchedulerError(f"MLOPS_SCHEDULER must be one of {', '.join(BACKENDS)}; got {kind!r}")


def make_skill(env: Mapping[str, str]) -> AiquSkill:
    """The scheduler plus the agent's budget ledger in `$MLOPS_STATE_DIR/aiqu/`."""
    limits = BudgetLimits.from_env(env)
    state_dir = Path(env.get("MLOPS_STATE_DIR") or "state")
    return AiquSkill(make_scheduler(env), AgentBudget(state_dir, limits))


def close_skill(skill: AiquSkill) -> None:
    close = getattr(skill.scheduler, "close", None)
    if callable(close):
        close()
    skill.budget.close()


def health(env: Mapping[str, str]) -> Health:
    """For `mlops-agent doctor`: can the configured backend be reached and used?"""
    try:
        skill = make_skill(env)
    except Exception as exc:  # doctor reports every failure as a line, never a traceback
        return Health(False, f"aiqu: cannot start the scheduler backend: {exc}")
    try:
        return skill.scheduler.health()
    except Exception as exc:
        return Health(False, f"aiqu: backend health check failed: {exc}")
    finally:
        close_skill(skill)
