"""The aiqu MCP server: wires the tool functions; no logic of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_servers.compact import CompactMCPServer

from . import actions, tools
from .backend import SchedulerError
from .errors import InvalidRequest, Refused
from .models import ActionResult, JobDetail, JobList, LogTail, QueueOverview
from .ownership import CancelGate
from .sweep_server import SweepBookSource, register_sweep_tools
from .tools import AiquSkill

T = TypeVar("T")

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
START = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
STOP = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

JobRef = Annotated[
    str,
    Field(
        description="a job id (e.g. '42') or a logical job name (e.g. 'customer-b/pcb-inspect-v2',"
        " meaning its latest attempt)"
    ),
]
StateFilter = Literal[
    "active", "finished", "pending", "starting", "running", "succeeded", "failed", "cancelled"
]


def _answer(call: Callable[[], T]) -> T:
    """Turn the skill's refusals and errors into a tool error the model reads."""
    try:
        return call()
    except (SchedulerError, InvalidRequest, Refused) as exc:
        raise ToolError(str(exc)) from exc


def build_server(
    skill: AiquSkill, cancel_gate: CancelGate | None = None, sweeps: SweepBookSource = None
) -> MCPServer:
    server = CompactMCPServer(
        "aiqu",
        instructions="AiQu, the GPU job scheduler: see jobs, queues and logs; start, requeue"
        " and stop the agent's own jobs within a budget.",
    )

    @server.tool(annotations=READ)
    def list_jobs(
        state: Annotated[
            StateFilter | None,
            Field(description="only jobs in this state; 'active' = pending+starting+running"),
        ] = None,
        name: Annotated[
            str | None, Field(description="substring of the logical name, e.g. 'pcb-inspect'")
        ] = None,
        label: Annotated[
            str | None,
            Field(description="key=value label filter, e.g. 'submitted_by=agent' or 'sweep=lr-1'"),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=200, description="most rows to return")] = 30,
    ) -> JobList:
        """List scheduler jobs, newest first, as compact rows (id, name, attempt, state, GPUs, who
        submitted it, why it waits or how it ended, minutes run)."""
        return _answer(lambda: tools.list_jobs(skill, state, name, label, limit))

    @server.tool(annotations=READ)
    def get_job(job: JobRef) -> JobDetail:
        """One job in full: state, reason, exit code, labels, UTC times, time limit, command."""
        return _answer(lambda: tools.get_job(skill, job))

    @server.tool(annotations=READ)
    def tail_logs(
        job: JobRef,
        lines: Annotated[int, Field(ge=1, le=200, description="last N lines of output")] = 50,
    ) -> LogTail:
        """The last lines of a job's stdout+stderr (at most 8000 characters)."""
        return _answer(lambda: tools.tail_logs(skill, job, lines))

    @server.tool(annotations=READ)
    def queue_overview() -> QueueOverview:
        """GPUs total/used/free, running and pending jobs per queue, and how much of its
        job and GPU-hour budget the agent has used."""
        return _answer(lambda: tools.queue_overview(skill))

    @server.tool(annotations=START)
    def submit_job(
        from_job: Annotated[
            str,
            Field(
                description="id or logical name of an existing job whose command, GPUs and"
                " settings are cloned"
            ),
        ],
        name: Annotated[
            str | None,
            Field(
                description="logical name for the new job, e.g. 'customer-b/pcb-lr-3e-4';"
                " default: the source job's name (then it counts as its next attempt)"
            ),
        ] = None,
        params: Annotated[
            dict[str, str | int | float] | None,
            Field(
                description="appended to the command as --key=value (replacing an earlier"
                ' --key=...), e.g. {"lr": 0.0003, "epochs": 20}'
            ),
        ] = None,
        gpus: Annotated[
            int | None, Field(ge=0, le=64, description="GPUs for the job; default: as the source")
        ] = None,
        time_limit_min: Annotated[
            int | None,
            Field(
                ge=1,
                le=10080,
                description="minutes before the job is stopped; default 60"
                " (set by MLOPS_AGENT_DEFAULT_TIME_LIMIT_MIN)",
            ),
        ] = None,
        labels: Annotated[
            dict[str, str] | None,
            Field(description='extra labels, e.g. {"sweep": "lr-1", "trial": "3"}'),
        ] = None,
    ) -> ActionResult:
        """Start a new job by cloning an existing one, optionally with changed parameters.
        The job is labelled submitted_by=agent. Refused when the agent already has its
        maximum of active jobs or the GPU-hours (GPUs x time limit) started in the last
        24 h would pass the budget; the refusal states usage and limit."""
        return _answer(
            lambda: actions.submit_job(skill, from_job, name, params, gpus, time_limit_min, labels)
        )

    @server.tool(annotations=START)
    def requeue_job(job: JobRef) -> ActionResult:
        """Run an ended job again under the same logical name (attempt + 1). Allowed for the
        agent's own jobs and for anyone's failed or cancelled job; other jobs need a human.
        Counts against the agent's job and GPU-hour budget."""
        return _answer(lambda: actions.requeue_job(skill, job))

    @server.tool(annotations=STOP)
    def cancel_job(
        job: JobRef,
        turn_id: Annotated[
            str | None,
            Field(
                description="the turn_id from this turn's header, verbatim; needed for someone"
                " else's job"
            ),
        ] = None,
        proposal_id: Annotated[
            str | None,
            Field(
                description="only in a later turn that says a person approved it: the proposal"
                " id an earlier cancel_job returned, e.g. P1a2b3c4d5e"
            ),
        ] = None,
    ) -> actions.CancelResult:
        """Stop a pending or running job. The agent's own job stops at once. Someone else's job
        is not stopped: the call files a proposal (returns proposal_id) that a person must
        approve; end your turn, and call again with that proposal_id in the turn that tells
        you it was approved."""
        return _answer(lambda: actions.cancel_job(skill, job, turn_id, proposal_id, cancel_gate))

    register_sweep_tools(server, skill, sweeps)
    return server
