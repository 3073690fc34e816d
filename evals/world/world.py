"""The real systems around one eval service: scheduler, MLflow runs, datasets, repos, sweeps.

`prepare` builds a scenario's setup under its run's names and returns what
`clean` needs to take it down again; `state` reads what a step may have
changed (the remotes' refs, the scheduler's jobs). Blocking calls: the runner
runs them in a thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.clock import Clock
from evals.cast import SCHEDULER_GPUS
from evals.namespace import Namespace
from evals.scenario import Scenario
from evals.world.datasets import write_datasets
from evals.world.jobs import Jobs, JobState
from evals.world.mlflow_runs import LoggedRuns, RunToLog, log_runs
from evals.world.repos import Repo
from evals.world.sweeps import Sweeps
from mcp_servers.aiqu.budget import BudgetLimits

# What the agent may start alone in an eval service: room for a sweep's trials and a
# requeue; a budget refusal is a scenario asking for more than 1000 GPU-hours.
LIMITS = BudgetLimits(max_jobs=4, max_gpu_hours=1000.0, default_time_limit_min=60)


@dataclass(frozen=True)
class WorldState:
    refs: dict[str, dict[str, str]]  # repo -> ref -> sha
    jobs: dict[str, JobState]  # job id -> name, state, submitter


@dataclass
class Prepared:
    ns: Namespace
    runs: LoggedRuns | None = None
    sweeps: list[str] = field(default_factory=list)


class World:
    def __init__(
        self,
        root: Path,
        repos: dict[str, tuple[str, ...]],
        tracking_uri: str,
        clock: Clock | None = None,
    ) -> None:
        self.root = root.resolve()
        self.clock = (
            clock or Clock()
        )  # the stage's scenario time: jobs and sweeps are stamped by it
        self.state_dir = self.root / "state"
        self.datasets_root = self.root / "datasets"
        self.tracking_uri = tracking_uri
        self._repo_allow = repos
        self.repos: dict[str, Repo] = {}
        self.jobs: Jobs | None = None
        self.sweeps: Sweeps | None = None

    def open(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.datasets_root.mkdir(parents=True, exist_ok=True)
        for name, allow in self._repo_allow.items():
            self.repos[name] = Repo.create(self.root / "repos", name, allow)
        self.jobs = Jobs(self.state_dir, self.root, SCHEDULER_GPUS, self.clock)
        self.sweeps = Sweeps(self.state_dir, self.jobs, LIMITS, self.clock)

    def close(self) -> None:
        if self.sweeps is not None:
            self.sweeps.close()
        if self.jobs is not None:
            self.jobs.cancel_all()
            self.jobs.close()

    @property
    def git_repos(self) -> str | None:
        """MLOPS_GIT_REPOS for the service, or None when no scenario uses a repo."""
        if not self.repos:
            return None
        return json.dumps({name: repo.settings() for name, repo in self.repos.items()})

    def prepare(self, scenario: Scenario, ns: Namespace) -> Prepared:
        assert self.jobs is not None and self.sweeps is not None, "world not opened"
        setup, prepared = scenario.setup, Prepared(ns)
        for name, repo in self.repos.items():
            declared = setup.repos.get(name)
            files = {p: ns.text(c) for p, c in declared.files.items()} if declared else {}
            repo.reset(files or {"README.md": f"# {name}\n"}, "Training setup")
        write_datasets(self.datasets_root, setup.datasets)
        submitted = [
            (
                self.jobs.submit(
                    ns.name(j.name),
                    j.by,
                    j.gpus,
                    ns.text(j.log),
                    j.state,
                    j.exit_code,
                    j.time_limit_min,
                ),
                j.state,
            )
            for j in setup.jobs
        ]
        self.jobs.wait(submitted)
        runs = [
            RunToLog(
                f"{r.name}-{ns.tag}",  # stages share the MLflow server: names of their own
                r.experiment,
                r.status,
                ns.deep(r.params),
                dict(r.metrics),
                {**ns.deep(r.tags), **({"mlops.job": ns.name(r.job)} if r.job else {})},
            )
            for r in setup.runs
        ]
        for sweep in setup.sweeps:
            trial_jobs = self.sweeps.create(sweep, ns)
            prepared.sweeps.append(ns.name(sweep.id))
            for n, (trial, job) in enumerate(zip(sweep.trials, trial_jobs, strict=True)):
                if trial.metrics:
                    tags = {"mlops.job": job, "sweep": ns.name(sweep.id), "trial": str(n)}
                    status = "RUNNING" if trial.state == "running" else "FINISHED"
                    runs.append(
                        RunToLog(
                            job, sweep.id, status, dict(trial.params), dict(trial.metrics), tags
                        )
                    )
        if runs:
            prepared.runs = log_runs(self.tracking_uri, runs, ns.tag)
        return prepared

    def clean(self, prepared: Prepared) -> None:
        assert self.jobs is not None and self.sweeps is not None
        self.jobs.cancel_all()
        self.sweeps.delete(prepared.sweeps)
        if prepared.runs is not None:
            prepared.runs.delete()

    def act(self, what: str, job: str, by: str) -> None:
        """A scenario's `scheduler` step: it happens to the job's real process."""
        assert self.jobs is not None
        {
            "kill": self.jobs.kill,
            "timeout": self.jobs.time_out,
            "preempt": self.jobs.preempt,
            "cancel": lambda name: self.jobs.cancel(name, by),  # type: ignore[union-attr]
        }[what](job)

    def state(self) -> WorldState:
        assert self.jobs is not None
        return WorldState({n: r.refs() for n, r in self.repos.items()}, self.jobs.snapshot())
