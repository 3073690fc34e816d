"""`python -m mcp_servers.git`: the git skill over stdio (logs go to stderr)."""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent

from .server import build_server
from .skill import make_skill


def main() -> int:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="git %(levelname)s %(message)s"
    )
    try:
        skill = make_skill(os.environ)
    except ValueError as exc:
        print(f"git: {exc}", file=sys.stderr)
        return 2
    if not skill.allowed_users:
        logging.warning("MLOPS_ALLOWED_USERS is empty: no approval will ever count")
    build_server(skill).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
