"""An MCP server whose tool schemas cost the model fewer tokens.

Pydantic gives every parameter a `title` that only repeats its name
("Run", "Metric"); the model reads the name and the description anyway, and
pays for every character of every tool on every turn. Only the schemas sent
out are compacted; validation uses the full ones.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import Tool

# Keys whose values are maps of *names* to schemas: a property may be called "title".
_NAMED_SCHEMAS = ("properties", "$defs", "definitions", "patternProperties")


def without_titles(schema: Any) -> Any:
    if isinstance(schema, list):
        return [without_titles(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: without_titles(sub) for name, sub in value.items()}
        else:
            out[key] = without_titles(value)
    return out


class CompactMCPServer(MCPServer):
    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        return [
            t.model_copy(
                update={
                    "input_schema": without_titles(t.input_schema),
                    "output_schema": without_titles(t.output_schema),
                }
            )
            for t in tools
        ]
