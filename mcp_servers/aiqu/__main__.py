"""`python -m mcp_servers.aiqu`: the aiqu skill over stdio (logs go to stderr)."""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent
from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import SchedulerError
from mcp_servers.aiqu.server import build_server
from mcp_servers.aiqu.skill import AiquSkill


def main() -> int:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="aiqu %(levelname)s %(message)s"
    )
    try:
        skill = AiquSkill.from_env(SkillEnvironment.from_env(os.environ))
    except (SchedulerError, ValueError) as exc:  # ValueError: SkillEnvironmentError, quiet hours
        print(f"aiqu: {exc}", file=sys.stderr)
        return 2
    try:
        skill.start()
        build_server(skill).run("stdio")
    finally:
        skill.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
