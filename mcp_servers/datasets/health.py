"""`mlops-agent doctor`'s way into the datasets skill: is the store there and readable?"""

from __future__ import annotations

from core.skill_env import SkillEnvironment

from .tools import health


def check(env: SkillEnvironment) -> tuple[bool, str]:
    return health(env.datasets)
