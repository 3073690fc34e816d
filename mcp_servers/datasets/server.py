"""The datasets MCP server: wires the plain tool functions, adds nothing of its own."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_servers.compact import CompactMCPServer
from mcp_servers.datasets import tools
from mcp_servers.datasets.errors import DatasetError
from mcp_servers.datasets.models import DatasetList, LabelCheck, VersionDiff, VersionStats
from mcp_servers.datasets.store import DatasetStore

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

INSTRUCTIONS = "Read-only image datasets with YOLO or COCO labels."
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)

# A parameter is described only where its name and type leave the model guessing.
Dataset = Annotated[str, Field(description="a name from list_datasets")]
Version = Annotated[str, Field(description="e.g. v3")]


def build_server(root: str | os.PathLike[str]) -> MCPServer:
    store = DatasetStore(root)
    server = CompactMCPServer(name="datasets", instructions=INSTRUCTIONS)

    @_read_only_tool(server)
    def list_datasets() -> DatasetList:
        """Every dataset and its versions."""
        return _run(lambda: tools.list_datasets(store))

    @_read_only_tool(server)
    def version_stats(dataset: Dataset, version: Version) -> VersionStats:
        """One version's images, boxes and images per class, image sizes."""
        return _run(lambda: tools.version_stats(store, dataset, version))

    @_read_only_tool(server)
    def diff_versions(
        dataset: Dataset,
        old_version: str,
        new_version: str,
    ) -> VersionDiff:
        """Images added, removed, relabelled and boxes per class between two versions."""
        return _run(lambda: tools.diff_versions(store, dataset, old_version, new_version))

    @_read_only_tool(server)
    def check_labels(
        dataset: Dataset,
        version: Version,
        max_examples: Annotated[int, Field(description="per problem", ge=0, le=20)] = 5,
    ) -> LabelCheck:
        """Count label problems in a version (missing, malformed, unknown class, bad box,
        duplicate...), with example files."""
        return _run(lambda: tools.check_labels(store, dataset, version, max_examples))

    return server


def _read_only_tool(server: MCPServer) -> Callable[[F], F]:
    """Register a read-only tool; its docstring, dedented, is what the model reads."""

    def register(fn: F) -> F:
        description = inspect.cleandoc(fn.__doc__ or "")
        return server.tool(annotations=READ_ONLY, description=description)(fn)

    return register


def _run(call: Callable[[], T]) -> T:
    try:
        return call()
    except DatasetError as exc:
        raise ToolError(str(exc)) from None
