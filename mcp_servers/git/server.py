"""The git MCP server: registration only (the tools are `reading` and `changes`)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_servers.compact import CompactMCPServer
from mcp_servers.tooling import Tools, register

from . import changes, reading
from .errors import ERRORS
from .skill import GitSkill

TOOLS = Tools(
    # grep is read_file with find, a commit's diff is log with patch: every tool costs the
    # model its schema on every turn. (diff between two revisions stays a function.)
    read_only=[reading.read_file, reading.log],
    write=[changes.propose_change],
    destructive=[changes.apply_change],
)


def build_server(skill: GitSkill) -> MCPServer:
    repos = ", ".join(sorted(skill.repos.configs))
    # The one thing the tools' schemas cannot say: which repos there are. (The model reads
    # this, and every tool schema, on every turn: the brief says what the skills are for.)
    server = CompactMCPServer("git", instructions=f"Repos: {repos}.")
    register(server, skill, TOOLS, errors=ERRORS)
    return server
