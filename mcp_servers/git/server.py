"""The git MCP server: registration only (the tools are `reading` and `changes`)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_servers.compact import CompactMCPServer
from mcp_servers.tooling import Tools, register

from . import changes, reading
from .errors import ERRORS
from .skill import GitSkill

TOOLS = Tools(
    read_only=[reading.read_file, reading.log, reading.diff, reading.grep],
    write=[changes.propose_change],
    destructive=[changes.apply_change],
)


def build_server(skill: GitSkill) -> MCPServer:
    repos = ", ".join(sorted(skill.repos.configs))
    server = CompactMCPServer(
        "git",
        instructions=f"Training repos: {repos}. Change files only via an approved proposal.",
    )
    register(server, skill, TOOLS, errors=ERRORS)
    return server
