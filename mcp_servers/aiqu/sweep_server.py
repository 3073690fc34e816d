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

from . import sweep_actions as act
from . import sweeps
from .backend import SchedulerError
from .errors import InvalidRequest, Refused
from .models import ParamValue
from .sweep_models import ProgressAdvice, SweepList, SweepStatus, TrialClosed, TrialStarted
from .sweeps import SweepBook
from .tools import AiquSkill

T = TypeVar("T")

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
STOP = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

SweepId = Annotated[str, Field(description="sweep id, e.g. 'pcb-lr-1'")]
TrialNo = Annotated[int, Field(ge=0, description="trial number, from 0")]
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
    opener: Callable[[], SweepBook] = book_given or (lambda: SweepBook.from_env(os.environ))
    book = functools.cache(opener)

    @server.tool(annotations=CHANGE)
    def start_sweep(
        sweep: Annotated[str, Field(description="new id, e.g. 'pcb-lr-1'")],
        base_job: Annotated[
            str, Field(description="job id or name each trial clones, adding its --key=value")
        ],
        objective: Annotated[str, Field(description="metric to optimise, e.g. 'val_loss'")],
        direction: Annotated[Literal["minimize", "maximize"], Field(description="of objective")],
        space: Annotated[
            Space,
            Field(
                description='e.g. {"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},'
                ' "opt": {"type": "categorical", "choices": ["sgd", "adam"]}}; "int" like "float"'
            ),
        ],
        max_trials: Annotated[int, Field(ge=1, le=1000, description="trials in total")],
        max_parallel: Annotated[int, Field(ge=1, le=64, description="trials at once")] = 2,
        trial_time_limit_min: Annotated[
            int | None, Field(ge=1, le=10080, description="default 60")
        ] = None,
        fixed_params: Annotated[
            dict[str, ParamValue] | None, Field(description='every trial, e.g. {"epochs": 20}')
        ] = None,
        first_trials: Annotated[
            list[dict[str, ParamValue]] | None,
            Field(description='points to try first, e.g. [{"lr": 0.001}]'),
        ] = None,
    ) -> SweepStatus:
        """Create an Optuna hyperparameter sweep. Starts no job: next_trial does."""
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
        """Start the sweep's next trial as your job. Limits, budget and quiet hours may
        refuse it."""
        return _answer(lambda: act.next_trial(skill, book(), sweep))

    @server.tool(annotations=CHANGE)
    def report_trial(
        sweep: SweepId,
        trial: TrialNo,
        value: Annotated[float | None, Field(description="its objective; null if none")],
    ) -> TrialClosed:
        """Record an ended trial's objective; returns the best so far."""
        return _answer(lambda: act.report_trial(skill, book(), sweep, trial, value))

    @server.tool(annotations=STOP)
    def prune_trial(
        sweep: SweepId,
        trial: TrialNo,
        reason: Annotated[str, Field(description="e.g. 'val_loss flat at 0.69 for 4 epochs'")],
    ) -> TrialClosed:
        """Early-stop a trial: cancel its job and record it as pruned."""
        return _answer(lambda: act.prune_trial(skill, book(), sweep, trial, reason))

    @server.tool(annotations=CHANGE)
    def report_progress(
        sweep: SweepId,
        trial: TrialNo,
        step: Annotated[int, Field(ge=0, description="epoch or step")],
        value: Annotated[float, Field(description="objective at that step")],
    ) -> ProgressAdvice:
        """Record a running trial's objective at a step; returns the median pruner's advice."""
        return _answer(lambda: act.report_progress(book(), sweep, trial, step, value))

    @server.tool(annotations=READ)
    def sweep_status(sweep: SweepId) -> SweepStatus:
        """A sweep's trials, best so far, limits used and left, and pruner advice."""
        return _answer(lambda: sweeps_read(skill, book(), sweep))

    @server.tool(annotations=READ)
    def list_sweeps() -> SweepList:
        """Every sweep, newest first: status, objective, trials, best value."""
        return _answer(lambda: act.list_sweeps(book()))

    @server.tool(annotations=CHANGE)
    def control_sweep(
        sweep: SweepId,
        action: Annotated[
            Literal["pause", "resume", "stop"],
            Field(description="pause or stop: no new trials; resume undoes either"),
        ],
        note: Annotated[str | None, Field(description="who asked and why")] = None,
    ) -> SweepStatus:
        """Pause, resume or stop a sweep. Running trials go on."""
        return _answer(lambda: act.change_status(skill, book(), sweep, action, note))
