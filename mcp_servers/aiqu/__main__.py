"""`python -m mcp_servers.aiqu`: the aiqu skill over stdio (logs go to stderr)."""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent

from .backends.base import SchedulerError
from .ownership import CancelGate
from .server import build_server
from .skill import close_skill, make_skill


def main() -> int:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="aiqu %(levelname)s %(message)s"
    )
    try:
        skill = make_skill(os.environ)
        cancel_gate = CancelGate.from_env(os.environ)
    except (SchedulerError, ValueError) as exc:
        print(f"aiqu: {exc}", file=sys.stderr)
        return 2
    start = getattr(skill.scheduler, "start", None)
    if callable(start):
        start()  # the local backend's dispatcher: pending jobs start when GPUs free up
    try:
        build_server(skill, cancel_gate).run("stdio")
    finally:
        close_skill(skill)
    return 0


if __name__ == "__main__":
    sys.exit(main())
