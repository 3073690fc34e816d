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

INSTRUCTIONS = (
    "Read-only view of the team's datasets: <dataset>/<version> folders with images and "
    "YOLO or COCO labels. Start with list_datasets to learn the names."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)

Dataset = Annotated[
    str, Field(description="Dataset folder name from list_datasets, e.g. 'pcb-defects'.")
]
Version = Annotated[str, Field(description="Version folder name from list_datasets, e.g. 'v3'.")]


def build_server(root: str | os.PathLike[str]) -> MCPServer:
    store = DatasetStore(root)
    server = CompactMCPServer(name="datasets", instructions=INSTRUCTIONS)

    @_read_only_tool(server)
    def list_datasets() -> DatasetList:
        """List every dataset and its versions with image counts, label layout and creation time."""
        return _run(lambda: tools.list_datasets(store))

    @_read_only_tool(server)
    def version_stats(dataset: Dataset, version: Version) -> VersionStats:
        """Statistics of one dataset version: images, labelled and background images, boxes
        (instances) and images per class, and image sizes in pixels."""
        return _run(lambda: tools.version_stats(store, dataset, version))

    @_read_only_tool(server)
    def diff_versions(
        dataset: Dataset,
        old_version: Annotated[str, Field(description="The earlier version, e.g. 'v2'.")],
        new_version: Annotated[str, Field(description="The later version, e.g. 'v3'.")],
    ) -> VersionDiff:
        """Compare two versions of a dataset: images added, removed and relabelled (with a few
        example names) and how many boxes each class gained or lost, with its share of all boxes."""
        return _run(lambda: tools.diff_versions(store, dataset, old_version, new_version))

    @_read_only_tool(server)
    def check_labels(
        dataset: Dataset,
        version: Version,
        max_examples: Annotated[
            int, Field(description="Example file names per problem, 0-20.", ge=0, le=20)
        ] = 5,
    ) -> LabelCheck:
        """Check a version's labels: images without labels, labels without images, empty label
        files, malformed lines, unknown class ids, boxes outside the image or of zero size,
        duplicate images, symlinks leaving the store. Counts plus a few example file names."""
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
