"""`mlops-agent doctor`'s way into the aiqu skill: can the configured backend be used?"""

from __future__ import annotations

from core.skill_env import SkillEnvironment

from .settings import AiquSettings
from .skill import health


def check(env: SkillEnvironment) -> tuple[bool, str]:
    result = health(env)
    return result.ok, f"{AiquSettings.from_env(env).scheduler}: {result.detail}"
