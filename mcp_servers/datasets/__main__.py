"""`python -m mcp_servers.datasets`: serve the datasets skill over stdio (logs go to stderr)."""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent
from core.skill_env import SkillEnvironment, SkillEnvironmentError
from mcp_servers.datasets.server import build_server
from mcp_servers.datasets.skill import DatasetStore


def main() -> int:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="datasets: %(message)s")
    try:
        store = DatasetStore.from_env(SkillEnvironment.from_env(os.environ))
    except SkillEnvironmentError as exc:
        print(f"datasets: {exc}", file=sys.stderr)
        return 2
    logging.getLogger(__name__).info("serving datasets from %s", store.root)
    build_server(store).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
