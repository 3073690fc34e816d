"""`mlops-agent doctor`'s way into the datasets skill: is the store there and readable?"""

from __future__ import annotations

from core.skill_env import SkillEnvironment

from .errors import DatasetError
from .skill import DatasetStore


def check(env: SkillEnvironment) -> tuple[bool, str]:
    """Is the root there and readable, and how many datasets it holds."""
    store = DatasetStore.from_env(env)
    try:
        names = store.dataset_names()
    except DatasetError as exc:
        return False, str(exc)
    except OSError as exc:
        return False, f"the datasets root {store.root} cannot be read: {exc.strerror}"
    return True, f"datasets root {store.root}: {len(names)} dataset(s)"
