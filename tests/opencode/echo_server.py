"""A tiny real MCP server for the opencode tests: one tool that echoes, one that fails.

Run as `python tests/opencode/echo_server.py` over stdio; opencode names its
tools `echo_say` and `echo_fail`.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field


class Echo(BaseModel):
    said: str


def build_server() -> MCPServer:
    server = MCPServer("echo")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False))
    def say(text: str = Field(description="Words to echo back, e.g. 'hello'")) -> Echo:
        """Echo the given text back."""
        return Echo(said=text)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False))
    def fail(
        reason: str = Field(description="Why the call should fail, e.g. 'no such job'"),
    ) -> Echo:
        """Always fail with the given reason (tests the error path)."""
        raise ToolError(f"failed on purpose: {reason}")

    return server


if __name__ == "__main__":
    build_server().run("stdio")
