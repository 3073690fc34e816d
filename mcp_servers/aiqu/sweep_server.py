"""The sweep tools of the aiqu MCP server: wiring only (logic in sweep_actions/sweeps)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from . import sweep_actions as act
from . import sweeps
from .backend import SchedulerError
from .errors import InvalidRequest, Refused
from .sweep_models import ProgressAdvice, SweepList, SweepStatus, TrialClosed, TrialStarted
from .sweeps import SweepBook
from .tools import AiquSkill

T = TypeVar("T")

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
STOP = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

SweepId = Annotated[str, Field(description="the sweep's id, e.g. 'pcb-lr-1'")]
TrialNo = Annotated[int, Field(ge=0, description="trial number within the sweep, from 0")]
Note = Annotated[
    str | None, Field(description="why, in a few words, e.g. 'asked by <@U123> for the demo'")
]


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
        sweep: Annotated[
            str, Field(description="a new id, 1-64 of A-Z a-z 0-9 . _ -, e.g. 'pcb-lr-1'")
        ],
        base_job: Annotated[
            str,
            Field(
                description="id or logical name of an existing job; each trial clones its command,"
                " GPUs and settings and appends its parameters as --key=value"
            ),
        ],
        objective: Annotated[
            str, Field(description="the metric the sweep optimises, e.g. 'val_loss'")
        ],
        direction: Annotated[
            Literal["minimize", "maximize"], Field(description="better is lower or higher")
        ],
        space: Annotated[
            dict[str, dict[str, Any]],
            Field(
                description='parameter -> range. {"lr": {"type": "float", "low": 1e-5, "high": 0.1,'
                ' "log": true}, "layers": {"type": "int", "low": 2, "high": 6}, "opt":'
                ' {"type": "categorical", "choices": ["sgd", "adam"]}}'
            ),
        ],
        max_trials: Annotated[int, Field(ge=1, le=1000, description="trials in total, e.g. 12")],
        max_parallel: Annotated[int, Field(ge=1, le=64, description="trials running at once")] = 2,
        trial_time_limit_min: Annotated[
            int | None,
            Field(
                ge=1,
                le=10080,
                description="minutes each trial may run; default 60. With its"
                " GPUs this is what a trial costs of the GPU-hour budget",
            ),
        ] = None,
        fixed_params: Annotated[
            dict[str, str | int | float] | None,
            Field(description='the same for every trial, e.g. {"epochs": 20}'),
        ] = None,
        first_trials: Annotated[
            list[dict[str, str | int | float]] | None,
            Field(description='points to try first, e.g. the current config [{"lr": 0.001}]'),
        ] = None,
    ) -> SweepStatus:
        """Create a hyperparameter sweep (Optuna). Starts no job: call next_trial for that."""
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
        """Ask Optuna for the next parameters and start them as a job of yours (labels sweep,
        trial). Refused, with usage and limit, when the sweep is paused, stopped or finished,
        in quiet hours, at its max trials or max parallel, or over the agent's GPU-hour
        budget."""
        return _answer(lambda: act.next_trial(skill, book(), sweep))

    @server.tool(annotations=CHANGE)
    def report_trial(
        sweep: SweepId,
        trial: TrialNo,
        value: Annotated[
            float | None,
            Field(
                description="the trial's objective, e.g. final val_loss 0.231; null if it"
                " failed without one"
            ),
        ],
    ) -> TrialClosed:
        """Record the objective of a trial whose job has ended; returns the best so far."""
        return _answer(lambda: act.report_trial(skill, book(), sweep, trial, value))

    @server.tool(annotations=STOP)
    def prune_trial(
        sweep: SweepId,
        trial: TrialNo,
        reason: Annotated[str, Field(description="e.g. 'val_loss flat at 0.69 for 4 epochs'")],
    ) -> TrialClosed:
        """Early-stop a trial: cancel its job if still running and record it as pruned."""
        return _answer(lambda: act.prune_trial(skill, book(), sweep, trial, reason))

    @server.tool(annotations=CHANGE)
    def report_progress(
        sweep: SweepId,
        trial: TrialNo,
        step: Annotated[int, Field(ge=0, description="epoch or step, e.g. 5")],
        value: Annotated[float, Field(description="the objective at that step")],
    ) -> ProgressAdvice:
        """Record an intermediate objective value of a running trial; returns Optuna's
        median pruner's advice (information: the decision is yours)."""
        return _answer(lambda: act.report_progress(book(), sweep, trial, step, value))

    @server.tool(annotations=READ)
    def sweep_status(sweep: SweepId) -> SweepStatus:
        """A sweep's trials (state, params, value, job), the best so far, limits used and
        left, and pruner advice for running trials that reported progress."""
        return _answer(lambda: sweeps_read(skill, book(), sweep))

    @server.tool(annotations=READ)
    def list_sweeps() -> SweepList:
        """Every sweep, newest first: status, objective, trials started, best value."""
        return _answer(lambda: act.list_sweeps(book()))

    def _change(action: str) -> Callable[[str, str | None], SweepStatus]:
        def call(sweep: str, note: str | None = None) -> SweepStatus:
            return _answer(lambda: act.change_status(skill, book(), sweep, action, note))

        return call

    pause, resume, stop = _change("pause"), _change("resume"), _change("stop")

    @server.tool(annotations=CHANGE)
    def pause_sweep(sweep: SweepId, note: Note = None) -> SweepStatus:
        """Pause a sweep: no new trial starts until resume_sweep; running trials go on."""
        return pause(sweep, note)

    @server.tool(annotations=CHANGE)
    def resume_sweep(sweep: SweepId, note: Note = None) -> SweepStatus:
        """Resume a paused or stopped sweep: next_trial may start trials again."""
        return resume(sweep, note)

    @server.tool(annotations=CHANGE)
    def stop_sweep(sweep: SweepId, note: Note = None) -> SweepStatus:
        """Stop a sweep: no new trials (resume_sweep undoes it); running trials go on until
        they end or you prune them."""
        return stop(sweep, note)
