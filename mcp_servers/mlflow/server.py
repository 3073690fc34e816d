"""The mlflow MCP server: registration only (the tools are `runs`, `summary` and `plots`)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_servers.compact import CompactMCPServer
from mcp_servers.tooling import Tools, register

from . import plots, runs, summary
from .errors import ERRORS, tool_message
from .skill import MlflowSkill

TOOLS = Tools(
    # get_run is compare_runs of one run: every tool costs the model its schema each turn.
    read_only=[runs.search_runs, summary.metric_summary, runs.compare_runs],
    # A plot writes a new PNG for the chat; it changes nothing in MLflow.
    write=[plots.plot_metrics],
)


def build_server(skill: MlflowSkill) -> MCPServer:
    server = CompactMCPServer("mlflow")
    register(server, skill, TOOLS, errors=ERRORS, describe=tool_message)
    return server
