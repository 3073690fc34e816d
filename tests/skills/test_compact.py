"""Tool schemas sent to the model drop pydantic's name-echo titles and what the tool checks
itself (bounds, defaults), nothing else; calls are still checked against the full schema."""

from __future__ import annotations

import mcp
import pytest
from pydantic import Field

from mcp_servers.compact import CompactMCPServer, without_titles


def test_titles_and_optional_nulls_go_but_a_property_called_title_stays() -> None:
    schema = {
        "title": "fArguments",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string", "description": "a run's title"},
            "n": {"title": "N", "anyOf": [{"type": "integer", "title": "Int"}, {"type": "null"}]},
            "k": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "default": None,
                "description": "optional",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 30},
            "value": {"anyOf": [{"type": "number"}, {"type": "null"}], "description": "or null"},
            "goal": {"enum": ["min", "max"], "type": "string"},
            "params": {"type": "object", "additionalProperties": {"type": "number"}},
            "rows": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
        },
        "required": ["title"],
    }
    assert without_titles(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "a run's title"},
            "n": {"type": ["integer", "null"]},  # required and nullable
            "k": {"type": "string", "description": "optional"},
            "limit": {"type": "integer"},
            "value": {"description": "or null", "type": ["number", "null"]},
            "goal": {"enum": ["min", "max"]},
            "params": {"type": "object"},
            "rows": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["title"],
    }


@pytest.mark.anyio
async def test_listed_tools_are_compact_and_calls_still_validate() -> None:
    server = CompactMCPServer(name="t")

    @server.tool()
    def plot(
        run: str = Field(description="run id or name"),
        points: int = Field(10, ge=1, le=100),
        metric: str | None = None,
    ) -> dict:
        """Plot a run."""
        return {"run": run, "points": points, "metric": metric}

    async with mcp.Client(server) as client:
        (tool,) = (await client.list_tools()).tools
        assert "title" not in tool.input_schema
        assert tool.input_schema["properties"]["run"] == {
            "description": "run id or name",
            "type": "string",
        }
        assert tool.input_schema["properties"]["points"] == {"type": "integer"}
        bad = await client.call_tool("plot", {"run": "r1", "points": "many"})
        assert bad.is_error
        out_of_range = await client.call_tool("plot", {"run": "r1", "points": 1000})
        assert out_of_range.is_error and "100" in out_of_range.content[0].text
        assert tool.input_schema["properties"]["metric"] == {"type": "string"}
        ok = await client.call_tool("plot", {"run": "r1", "points": 3, "metric": None})
        assert not ok.is_error and '"points": 3' in ok.content[0].text
