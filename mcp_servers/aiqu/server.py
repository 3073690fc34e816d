"""The aiqu MCP server: wires the tool functions; no logic of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_servers.compact import CompactMCPServer

from . import actions
from . import jobs as tools
from .backends.base import SchedulerError
from .errors import InvalidRequest, Refused
from .jobs import AiquSkill
from .models import INTEGER, ActionResult, JobDetail, JobList, LogTail, ParamValue, QueueOverview
from .ownership import CancelGate
from .sweeps.server import SweepBookSource, register_sweep_tools

T = TypeVar("T")

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
START = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
STOP = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)

JobRef = Annotated[str, Field(description="id or name (its latest attempt)")]
Rows = Annotated[int, Field(ge=1, le=200), INTEGER]
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
    server = CompactMCPServer("aiqu", instructions="The GPU job scheduler and sweeps.")

    # A parameter is described only where its name and type leave the model guessing.
    @server.tool(annotations=READ)
    def list_jobs(
        state: Annotated[StateFilter | None, Field(description="active: not ended")] = None,
        name: Annotated[str | None, Field(description="substring")] = None,
        label: Annotated[str | None, Field(description="key=value, e.g. sweep=lr-1")] = None,
        limit: Rows = 30,
    ) -> JobList:
        """Jobs, newest first."""
        return _answer(lambda: tools.list_jobs(skill, state, name, label, limit))

    @server.tool(annotations=READ)
    def get_job(job: JobRef) -> JobDetail:
        """One job in full, with exit code, labels and command."""
        return _answer(lambda: tools.get_job(skill, job))

    @server.tool(annotations=READ)
    def tail_logs(job: JobRef, lines: Rows = 50) -> LogTail:
        """The last lines of a job's output."""
        return _answer(lambda: tools.tail_logs(skill, job, lines))

    @server.tool(annotations=READ)
    def queue_overview() -> QueueOverview:
        """GPUs free and used, jobs per queue, the agent's budget use."""
        return _answer(lambda: tools.queue_overview(skill))

    @server.tool(annotations=START)
    def submit_job(
        from_job: Annotated[str, Field(description="job id or name to clone")],
        name: Annotated[str | None, Field(description="default: from_job's (next attempt)")] = None,
        params: Annotated[
            dict[str, ParamValue] | None, Field(description='as --key=value, e.g. {"lr": 0.01}')
        ] = None,
        gpus: Annotated[int, Field(ge=0, le=64), INTEGER] | None = None,
        time_limit_min: Annotated[int, Field(ge=1, le=10080), INTEGER] | None = None,
        labels: dict[str, str] | None = None,
    ) -> ActionResult:
        """Start a clone of a job, within the agent's budget."""
        return _answer(
            lambda: actions.submit_job(skill, from_job, name, params, gpus, time_limit_min, labels)
        )

    @server.tool(annotations=START)
    def requeue_job(job: JobRef) -> ActionResult:
        """Rerun an ended job (yours, or anyone's failed or cancelled), within the budget."""
        return _answer(lambda: actions.requeue_job(skill, job))

    @server.tool(annotations=STOP)
    def cancel_job(
        job: JobRef,
        turn_id: Annotated[str | None, Field(description="this turn's; for others' jobs")] = None,
        proposal_id: Annotated[str | None, Field(description="once approved")] = None,
    ) -> actions.CancelResult:
        """Stop a job; someone else's only by a proposal a person approves."""
        return _answer(lambda: actions.cancel_job(skill, job, turn_id, proposal_id, cancel_gate))

    register_sweep_tools(server, skill, sweeps)
    return server
