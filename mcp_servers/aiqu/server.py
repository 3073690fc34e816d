"""The aiqu MCP server: registration only (jobs, actions and sweeps hold the tools)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_servers.compact import CompactMCPServer
from mcp_servers.tooling import Tools, register

from . import actions, jobs
from .errors import ERRORS
from .skill import AiquSkill
from .sweeps import actions as sweeps

TOOLS = Tools(
    # get_job stays a function (tail_logs carries what the model needs of it): every tool
    # costs the model its schema on every turn.
    read_only=[jobs.list_jobs, jobs.tail_logs, jobs.queue_overview],
    write=[actions.submit_job, actions.requeue_job],
    destructive=[actions.cancel_job],
)
SWEEP_TOOLS = Tools(
    read_only=[sweeps.sweep_status],
    write=[
        sweeps.start_sweep,
        sweeps.next_trial,
        sweeps.report_trial,  # also a running trial's progress (report_progress)
        sweeps.control_sweep,
    ],
    destructive=[sweeps.prune_trial],
)


def build_server(skill: AiquSkill) -> MCPServer:
    server = CompactMCPServer("aiqu")
    register(server, skill, TOOLS, errors=ERRORS)
    register(server, skill, SWEEP_TOOLS, errors=ERRORS)
    return server
