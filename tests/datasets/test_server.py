"""The MCP server: tools listed with schemas and annotations, called in-process and over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import mcp

from mcp_servers.datasets import DatasetStore, build_server

# version_stats is list_datasets of one version (one schema fewer on every turn).
TOOLS = {"list_datasets", "diff_versions", "check_labels"}
# Parameters whose name and type leave the model guessing: each must carry a description.
# (A wrong dataset or version is refused with the names there are.)
DESCRIBED: dict[str, set[str]] = {}
REPO = Path(__file__).resolve().parents[2]


async def test_tools_are_listed_read_only_with_described_parameters(root: Path) -> None:
    async with mcp.Client(build_server(DatasetStore(root))) as client:
        listed = (await client.list_tools()).tools
    assert {t.name for t in listed} == TOOLS
    for tool in listed:
        assert tool.description
        assert tool.annotations is not None
        assert (tool.annotations.read_only_hint, tool.annotations.destructive_hint) == (True, False)
        assert tool.output_schema is not None
        properties = tool.input_schema.get("properties", {})
        described = {name for name, schema in properties.items() if schema.get("description")}
        assert DESCRIBED.get(tool.name, set()) <= described, tool.name


async def test_one_versions_stats_return_structured_content(root: Path) -> None:
    async with mcp.Client(build_server(DatasetStore(root))) as client:
        listed = await client.call_tool("list_datasets", {})
        result = await client.call_tool("list_datasets", {"dataset": "pcb", "version": "v1"})
        half = await client.call_tool("list_datasets", {"dataset": "pcb"})
    assert listed.structured_content is not None and result.structured_content is not None
    # Two shapes from one tool: MCP wraps the structured content; the text is the object.
    assert "pcb" in [d["name"] for d in listed.structured_content["result"]["datasets"]]
    assert half.is_error and "both dataset and version" in str(half.content)
    result.structured_content = result.structured_content["result"]
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["images"] == 4
    assert [c["name"] for c in result.structured_content["classes"]] == [
        "solder_bridge",
        "missing_part",
        "scratch",
    ]


async def test_diff_and_check_over_mcp(root: Path) -> None:
    async with mcp.Client(build_server(DatasetStore(root))) as client:
        diff = await client.call_tool(
            "diff_versions", {"dataset": "pcb", "old_version": "v1", "new_version": "v2"}
        )
        check = await client.call_tool(
            "check_labels", {"dataset": "traffic", "version": "v1", "max_examples": 1}
        )
    assert diff.structured_content is not None and check.structured_content is not None
    assert diff.structured_content["added"]["count"] == 3
    assert check.structured_content["boxes_outside_image"]["count"] == 1


async def test_refusal_reaches_the_model_as_a_tool_error(root: Path) -> None:
    async with mcp.Client(build_server(DatasetStore(root))) as client:
        result = await client.call_tool("list_datasets", {"dataset": "../outside", "version": "v1"})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "'..' is not allowed in the dataset name" in text


async def test_out_of_range_examples_are_refused_by_the_schema(root: Path) -> None:
    async with mcp.Client(build_server(DatasetStore(root))) as client:
        result = await client.call_tool(
            "check_labels", {"dataset": "pcb", "version": "v1", "max_examples": 100}
        )
    assert result.is_error
    assert "less than or equal to 20" in result.content[0].text  # type: ignore[union-attr]


async def test_over_stdio(root: Path) -> None:
    env = {"PATH": os.environ["PATH"], "MLOPS_DATASETS_ROOT": str(root)}
    params = mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_servers", "datasets"], env=env, cwd=str(REPO)
    )
    with anyio.fail_after(60):  # the server process ends with the client
        async with mcp.Client(params, read_timeout_seconds=30) as client:
            listing = await client.call_tool("list_datasets", {})
    assert listing.structured_content is not None
    names = [d["name"] for d in listing.structured_content["result"]["datasets"]]
    assert names == ["pcb", "traffic"]
