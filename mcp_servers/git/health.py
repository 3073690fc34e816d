"""`mlops-agent doctor`'s way into the git skill: is every configured remote branch visible?"""

from __future__ import annotations

import git

from core.skill_env import SkillEnvironment

from .config import parse_repos
from .errors import ConfigError, GitSkillError
from .repos import NO_PROMPT, GitRepos, stderr_of
from .settings import GitSettings


def check(env: SkillEnvironment) -> tuple[bool, str]:
    configured = GitSettings.from_env(env).repos
    if not configured:
        return True, "no repos configured (MLOPS_GIT_REPOS): git tools are off"
    try:
        repos = GitRepos(parse_repos(configured))
    except ConfigError as exc:
        return False, str(exc)
    problems = []
    for name, repo in repos.configs.items():
        try:
            with repos.open(name) as handle:
                heads = str(
                    handle.git.ls_remote(
                        "--heads", repo.remote, repo.branch, env=NO_PROMPT, kill_after_timeout=30
                    )
                )
            why = "no such branch"
        except GitSkillError as exc:
            heads, why = "", str(exc)
        except git.GitCommandError as exc:
            heads, why = "", stderr_of(exc)
        if not heads.strip():
            problems.append(f"{name}: cannot see {repo.remote}/{repo.branch} ({why[:120]})")
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(repos.configs)} repo(s) reachable: {', '.join(repos.configs)}"
