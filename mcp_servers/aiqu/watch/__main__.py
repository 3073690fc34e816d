"""`python -m mcp_servers.aiqu.watch`: one JSON line in, one JSON line out, per pass.

Started and kept by the supervisor (`agent/watch/probe.py`) with the skill
environment; logs go to stderr. See `__init__` for why it is a process.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from core.lifetime import follow_parent
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import Scheduler, SchedulerError
from mcp_servers.aiqu.skill import make_scheduler
from mcp_servers.aiqu.watch.snapshot import answer


def main() -> int:
    follow_parent()  # the supervisor's child: gone when it is, even on SIGKILL
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="aiqu-watch %(levelname)s %(message)s"
    )
    scheduler: Scheduler | None = None
    problem = ""
    try:
        scheduler = make_scheduler(SkillEnvironment.from_env(os.environ))
    except (SchedulerError, ValueError) as exc:  # ValueError: SkillEnvironmentError
        problem = f"the scheduler backend cannot start: {exc}"
        logging.error("%s", problem)
    start = getattr(scheduler, "start", None)
    if callable(start):
        start()  # the local backend's dispatcher: queued jobs start when GPUs free up
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            reply = answer(scheduler, line) if scheduler else {"ok": False, "error": problem}
            sys.stdout.write(json.dumps(reply, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    finally:
        close = getattr(scheduler, "close", None)
        if callable(close):
            close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
