"""The sweep tools of the aiqu MCP server: wiring only (logic in sweep_actions/sweeps)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, WithJsonSchema

from core.skill_env import SkillEnvironment

from ..backends.base import SchedulerError
from ..errors import InvalidRequest, Refused
from ..jobs import AiquSkill
from ..models import INTEGER, ParamValue
from ..sweeps import actions as act
from ..sweeps import book as sweeps
from .book import SweepBook
from .models import ProgressAdvice, SweepList, SweepStatus, TrialClosed, TrialStarted

T = TypeVar("T")

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
STOP = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

# A parameter is described only where its name and type leave the model guessing.
SweepId = str
TrialNo = Annotated[int, Field(ge=0)]
# Optuna's search space, validated by sweep_spec; the nested schema would only say "object".
Space = Annotated[dict[str, dict[str, Any]], WithJsonSchema({"type": "object"})]


sweeps_read = sweeps.sweep_status

# A book, a function opening one, or None: opened from the environment at first use.
SweepBookSource = SweepBook | Callable[[], SweepBook] | None


def _answer(call: Callable[[], T]) -> T:
    try:
        return call()
    except (SchedulerError, InvalidRequest, Refused) as exc:
        raise ToolError(str(exc)) from exc


def register_sweep_tools(
    server: MCPServer,
    skill: AiquSkill,
    book_given: SweepBookSource = None,
) -> None:
    """Add the sweep tools. The book is opened at the first sweep call when not given
    (from MLOPS_STATE_DIR, MLOPS_QUIET_HOURS, MLOPS_TIMEZONE), so servers that never
    sweep never create the sweeps database."""
    if isinstance(book_given, SweepBook):
        given = book_given
        book_given = lambda: given  # noqa: E731
    opener: Callable[[], SweepBook] = book_given or (
        lambda: SweepBook.from_env(SkillEnvironment.from_env(os.environ))
    )
    book = functools.cache(opener)

    @server.tool(annotations=CHANGE)
    def start_sweep(
        sweep: str,
        base_job: Annotated[str, Field(description="job id or name each trial clones")],
        objective: Annotated[str, Field(description="metric, e.g. val_loss")],
        direction: Literal["minimize", "maximize"],
        space: Annotated[
            Space,
            Field(
                description='e.g. {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},'
                ' "opt": {"type": "categorical", "choices": ["sgd", "adam"]}}; int as float'
            ),
        ],
        max_trials: Annotated[int, Field(ge=1, le=1000), INTEGER],
        max_parallel: Annotated[int, Field(ge=1, le=64), INTEGER] = 2,
        trial_time_limit_min: Annotated[int, Field(ge=1, le=10080), INTEGER] | None = None,
        fixed_params: Annotated[
            dict[str, ParamValue] | None, Field(description="same in every trial")
        ] = None,
        first_trials: Annotated[
            list[dict[str, ParamValue]] | None, Field(description="params to try first")
        ] = None,
    ) -> SweepStatus:
        """Create a hyperparameter sweep (Optuna); next_trial starts its jobs."""
        return _answer(
            lambda: act.start_sweep(
                skill,
                book(),
                sweep,
                base_job,
                objective,
                direction,
                space,
                max_trials,
                max_parallel,
                trial_time_limit_min,
                fixed_params,
                first_trials,
            )
        )

    @server.tool(annotations=CHANGE)
    def next_trial(sweep: SweepId) -> TrialStarted:
        """Start the sweep's next trial as a job, within its limits."""
        return _answer(lambda: act.next_trial(skill, book(), sweep))

    @server.tool(annotations=CHANGE)
    def report_trial(
        sweep: SweepId,
        trial: TrialNo,
        value: Annotated[float | None, Field(description="objective; null if none")],
    ) -> TrialClosed:
        """Record an ended trial's objective."""
        return _answer(lambda: act.report_trial(skill, book(), sweep, trial, value))

    @server.tool(annotations=STOP)
    def prune_trial(
        sweep: SweepId,
        trial: TrialNo,
        reason: Annotated[str, Field(description="with the numbers")],
    ) -> TrialClosed:
        """Early-stop a trial: cancel its job, record it pruned."""
        return _answer(lambda: act.prune_trial(skill, book(), sweep, trial, reason))

    @server.tool(annotations=CHANGE)
    def report_progress(
        sweep: SweepId,
        trial: TrialNo,
        step: Annotated[int, Field(ge=0)],
        value: float,
    ) -> ProgressAdvice:
        """Record a running trial's objective at a step; returns pruner advice."""
        return _answer(lambda: act.report_progress(book(), sweep, trial, step, value))

    @server.tool(annotations=READ)
    def sweep_status(sweep: SweepId | None = None) -> SweepStatus | SweepList:
        """A sweep's trials, best, limits and pruner advice; without sweep, every sweep."""
        if sweep is None:
            return _answer(lambda: act.list_sweeps(book()))
        return _answer(lambda: sweeps_read(skill, book(), sweep))

    @server.tool(annotations=CHANGE)
    def control_sweep(
        sweep: SweepId,
        action: Literal["pause", "resume", "stop"],
        note: Annotated[str | None, Field(description="who asked")] = None,
    ) -> SweepStatus:
        """Pause or stop a sweep's new trials (running ones go on), or resume it."""
        return _answer(lambda: act.change_status(skill, book(), sweep, action, note))
