"""`python -m mcp_servers <name>`: serve one skill over stdio (logs go to stderr).

The one place a skill process reads its environment: `core.skill_env` once, then the
skill's own `serve` (which reads its own settings from it).
"""

from __future__ import annotations

import logging
import os
import sys

from core.lifetime import follow_parent
from core.skill_env import SkillEnvironment
from mcp_servers.plugin import StartupError
from mcp_servers.registry import gate_context, named


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mcp_servers <skill name>", file=sys.stderr)
        return 2
    try:
        skill = named(argv[0])
    except ValueError as exc:
        print(f"mcp_servers: {exc}", file=sys.stderr)
        return 2
    follow_parent()  # opencode's child: gone when opencode is, even on SIGKILL
    # Before anything of the skill is imported: its libraries read these when they load.
    os.environ.update(skill.environment)
    for name, value in skill.environment_defaults.items():
        os.environ.setdefault(name, value)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format=f"{skill.name} %(levelname)s %(message)s"
    )
    try:
        skill.serve(SkillEnvironment.from_env(os.environ), gate_context())
    except StartupError as exc:
        print(f"{skill.name}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
