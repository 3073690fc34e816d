"""A scenario's sweeps, made the way the agent makes them: through the aiqu skill's own
functions, on the same state dir, so trials, jobs and budget look exactly as after
real tool calls. Afterwards they are deleted, so no later digest or scheduled
check sees them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import optuna

from core.clock import Clock
from evals.namespace import Namespace
from evals.scenario import SweepSetup
from evals.world.jobs import Jobs
from mcp_servers.aiqu.budget import AgentBudget, BudgetLimits
from mcp_servers.aiqu.skill import AiquSkill
from mcp_servers.aiqu.sweeps.actions import next_trial, prune_trial, report_trial, start_sweep
from mcp_servers.aiqu.sweeps.book import SweepBook


class Sweeps:
    def __init__(self, state_dir: Path, jobs: Jobs, limits: BudgetLimits, clock: Clock) -> None:
        self.state_dir = state_dir
        self.jobs = jobs
        # No quiet hours here: the setup is not the agent, and runs at any scenario time.
        self.book = SweepBook(state_dir, clock=clock.now)
        budget = AgentBudget(state_dir, limits, clock=clock.now)
        self.skill = AiquSkill(jobs.scheduler, budget, book=self.book)
        # Optuna makes its tables on first use (seconds): at the stage's start, not in the
        # first sweep scenario's setup.
        _ = self.book.storage

    def close(self) -> None:
        self.book.close()
        self.skill.budget.close()

    def create(self, sweep: SweepSetup, ns: Namespace) -> list[str]:
        """Start the sweep and its trials in order; returns the trials' job names."""
        sweep_id = ns.name(sweep.id)
        start_sweep(
            self.skill,
            sweep_id,
            base_job=ns.name(sweep.base_job),
            objective=sweep.objective,
            direction=sweep.direction,
            space=sweep.space,
            max_trials=sweep.max_trials,
            max_parallel=sweep.max_parallel,
            first_trials=[t.params for t in sweep.trials],
        )
        names = []
        for trial in sweep.trials:
            started = next_trial(self.skill, sweep_id)
            names.append(started.job_name)
            if trial.state == "complete":
                assert trial.value is not None
                report_trial(self.skill, sweep_id, started.trial, trial.value)
                self.jobs.finish(started.job_name, 0)
            elif trial.state == "pruned":
                prune_trial(self.skill, sweep_id, started.trial, trial.note)
        return names

    def delete(self, sweep_ids: list[str]) -> None:
        for sweep_id in sweep_ids:
            self.book.index.execute("DELETE FROM mlops_sweeps WHERE id = ?", (sweep_id,))
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=sweep_id, storage=self.book.storage)
