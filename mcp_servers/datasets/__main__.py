"""`python -m mcp_servers.datasets`: serve the datasets skill over stdio.

Reads MLOPS_DATASETS_ROOT (default $MLOPS_STATE_DIR/datasets, else state/datasets).
stdout carries the protocol, so logs go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent
from mcp_servers.datasets.server import build_server
from mcp_servers.datasets.store import root_from_env


def main() -> None:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="datasets: %(message)s")
    root = root_from_env(os.environ)
    logging.getLogger(__name__).info("serving datasets from %s", os.path.abspath(root))
    build_server(root).run("stdio")


if __name__ == "__main__":
    main()
