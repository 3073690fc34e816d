"""The one way a skill declares a tool: a plain function over the skill, registered as written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import mcp
import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from mcp_servers.tooling import DESTRUCTIVE, READ_ONLY, WRITE, Tools, register

# An alias in this module's namespace: the helper must resolve it from here, since this
# module (like every tool module) postpones its annotations.
Name = Annotated[str, Field(description="whose counter")]


class CounterError(Exception):
    """The fake skill's own refusal."""


@dataclass
class Counters:
    """A tiny real skill: counters by name."""

    counts: dict[str, int] = field(default_factory=dict)


class Count(BaseModel):
    name: str
    value: int


def read(counters: Counters, name: Name) -> Count:
    """Read a counter."""
    if name not in counters.counts:
        raise CounterError(f"no counter {name!r}; counters: {sorted(counters.counts)}")
    return Count(name=name, value=counters.counts[name])


def add(counters: Counters, name: Name, by: Annotated[int, Field(ge=1)] = 1) -> Count:
    """Add to a counter,
    creating it at zero first."""
    counters.counts[name] = counters.counts.get(name, 0) + by
    return Count(name=name, value=counters.counts[name])


def reset(counters: Counters, name: Name) -> Count:
    """Reset a counter."""
    raise RuntimeError(f"disk on fire while resetting {name}")


def server(counters: Counters) -> MCPServer:
    built = MCPServer("counters")
    tools = Tools(read_only=[read], write=[add], destructive=[reset])
    register(built, counters, tools, errors=(CounterError,), describe=lambda e: f"refused: {e}")
    return built


async def test_the_published_schema_has_no_skill_parameter() -> None:
    async with mcp.Client(server(Counters())) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["add"].input_schema
    assert set(schema["properties"]) == {"name", "by"}
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"]["description"] == "whose counter"
    assert (schema["properties"]["by"]["minimum"], schema["properties"]["by"]["default"]) == (1, 1)
    assert tools["read"].output_schema is not None
    assert tools["read"].output_schema["properties"].keys() == {"name", "value"}


async def test_the_docstring_is_the_description() -> None:
    async with mcp.Client(server(Counters())) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["read"].description == "Read a counter."
    assert tools["add"].description == "Add to a counter,\ncreating it at zero first."


async def test_annotations_follow_the_kind_of_tool() -> None:
    async with mcp.Client(server(Counters())) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert [tools[n].annotations for n in ("read", "add", "reset")] == [
        READ_ONLY,
        WRITE,
        DESTRUCTIVE,
    ]
    assert (READ_ONLY.read_only_hint, WRITE.read_only_hint) == (True, False)
    assert (WRITE.destructive_hint, DESTRUCTIVE.destructive_hint) == (False, True)


async def test_calls_reach_the_bound_skill() -> None:
    counters = Counters({"epochs": 3})
    async with mcp.Client(server(counters)) as client:
        added = await client.call_tool("add", {"name": "epochs", "by": 2})
        read_back = await client.call_tool("read", {"name": "epochs"})
    assert not added.is_error and added.structured_content == {"name": "epochs", "value": 5}
    assert read_back.structured_content == {"name": "epochs", "value": 5}
    assert counters.counts == {"epochs": 5}


async def test_the_skill_s_errors_become_tool_errors_with_its_message() -> None:
    async with mcp.Client(server(Counters({"epochs": 3}))) as client:
        refused = await client.call_tool("read", {"name": "steps"})
    assert refused.is_error
    assert refused.content[0].text == (  # type: ignore[union-attr]
        "Error executing tool read: refused: no counter 'steps'; counters: ['epochs']"
    )


async def test_any_other_error_keeps_its_message_from_the_model() -> None:
    async with mcp.Client(server(Counters())) as client:
        failed = await client.call_tool("reset", {"name": "epochs"})
    assert failed.is_error
    assert "disk on fire" not in failed.content[0].text  # type: ignore[union-attr]


async def test_arguments_are_validated_before_the_skill_is_called() -> None:
    counters = Counters()
    async with mcp.Client(server(counters)) as client:
        bad = await client.call_tool("add", {"name": "epochs", "by": 0})
    assert bad.is_error and counters.counts == {}


def test_a_tool_without_a_docstring_is_refused_at_registration() -> None:
    def silent(counters: Counters) -> Count:
        return Count(name="x", value=0)

    with pytest.raises(TypeError, match="tool silent has no docstring"):
        register(MCPServer("x"), Counters(), Tools(read_only=[silent]), errors=())
