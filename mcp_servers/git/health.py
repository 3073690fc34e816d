"""`mlops-agent doctor`'s way into the git skill: is every configured remote branch visible?"""

from __future__ import annotations

import os
import subprocess

from core.skill_env import SkillEnvironment

from .config import ConfigError, parse_repos


def check(env: SkillEnvironment) -> tuple[bool, str]:
    if not env.git_repos:
        return True, "no repos configured (MLOPS_GIT_REPOS): git tools are off"
    try:
        repos = parse_repos(env.git_repos)
    except ConfigError as exc:
        return False, str(exc)
    problems = []
    for name, repo in repos.items():
        probe = subprocess.run(
            ["git", "-C", str(repo.path), "ls-remote", "--heads", repo.remote, repo.branch],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ, GIT_TERMINAL_PROMPT="0"),
        )
        if probe.returncode != 0 or not probe.stdout.strip():
            problems.append(
                f"{name}: cannot see {repo.remote}/{repo.branch} ({probe.stderr.strip()[:120]})"
            )
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(repos)} repo(s) reachable: {', '.join(repos)}"
