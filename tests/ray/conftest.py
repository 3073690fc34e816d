"""The Ray backend's own tests: the session's real Ray head (tests/conftest.py `ray_head`),
and a RayScheduler over it per test on the test's state dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.skill_env import SkillEnvironment
from mcp_servers.aiqu.backends.base import JobSpec
from mcp_servers.aiqu.backends.ray import RayScheduler
from tests.ray.cluster import RayHead
from tests.scheduler.conftest import job_when

__all__ = ["job_when", "sh"]


@pytest.fixture
def skill_env(ray_head: RayHead, state_dir: Path) -> dict[str, str]:
    """The environment the skill would run with in production, pointed at the test head."""
    return {**ray_head.env(), "MLOPS_STATE_DIR": str(state_dir)}


@pytest.fixture
def make_ray(ray_head: RayHead, skill_env: dict[str, str]) -> Iterator[Callable[..., RayScheduler]]:
    """RaySchedulers over the test head (the skill's own, from its environment)."""
    made: list[RayScheduler] = []

    def make(**env: str) -> RayScheduler:
        scheduler = RayScheduler.from_env(SkillEnvironment.from_env({**skill_env, **env}))
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()
    ray_head.stop_all()  # the head is shared: leave both GPUs free


@pytest.fixture
def ray(make_ray: Callable[..., RayScheduler]) -> RayScheduler:
    return make_ray()


def sh(script: str, name: str = "team/train", **kw: Any) -> JobSpec:
    return JobSpec(name=name, command=["sh", "-c", script], **kw)
