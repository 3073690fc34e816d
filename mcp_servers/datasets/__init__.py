"""datasets: the read-only dataset store skill (YOLO and COCO labels, versioned folders).

Tool logic lives in `tools` as plain functions over a `DatasetStore` (`skill`);
`server` only registers them. Nothing in this package writes to disk.
"""

from mcp_servers.datasets.errors import DatasetError
from mcp_servers.datasets.server import build_server
from mcp_servers.datasets.skill import DatasetStore
from mcp_servers.datasets.tools import (
    check_labels,
    diff_versions,
    list_datasets,
    version_stats,
)

__all__ = [
    "DatasetError",
    "DatasetStore",
    "build_server",
    "check_labels",
    "diff_versions",
    "list_datasets",
    "version_stats",
]
