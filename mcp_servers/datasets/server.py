"""The datasets MCP server: registration only (the tools are `tools.py`)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_servers.compact import CompactMCPServer
from mcp_servers.datasets import tools
from mcp_servers.datasets.errors import ERRORS
from mcp_servers.datasets.skill import DatasetStore
from mcp_servers.tooling import Tools, register

# version_stats is list_datasets of one version: every tool costs the model its schema
# on every turn.
TOOLS = Tools(read_only=[tools.list_datasets, tools.diff_versions, tools.check_labels])


def build_server(store: DatasetStore) -> MCPServer:
    server = CompactMCPServer(name="datasets")
    register(server, store, TOOLS, errors=ERRORS)
    return server
