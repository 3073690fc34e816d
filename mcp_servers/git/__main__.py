"""`python -m mcp_servers.git`: the git skill over stdio (logs go to stderr)."""

from __future__ import annotations

import logging
import os
import sys

from core.ledger import LedgerError
from core.lifetime import follow_parent
from core.skill_env import SkillEnvironment
from mcp_servers.git.server import build_server
from mcp_servers.git.skill import GitSkill


def main() -> int:
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="git %(levelname)s %(message)s"
    )
    try:
        skill = GitSkill.from_env(SkillEnvironment.from_env(os.environ))
    except (ValueError, LedgerError) as exc:  # ConfigError, SkillEnvironmentError: ValueErrors
        print(f"git: {exc}", file=sys.stderr)
        return 2
    if not skill.proposals.approvers:
        logging.warning("MLOPS_ALLOWED_USERS is empty: no approval will ever count")
    build_server(skill).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
