"""The skills this build ships: one line each. Adding a skill is its own folder (with a
`plugin.py` exporting `SKILL`) plus its line here."""

from __future__ import annotations

from mcp_servers.aiqu.plugin import SKILL as AIQU
from mcp_servers.datasets.plugin import SKILL as DATASETS
from mcp_servers.git.plugin import SKILL as GIT
from mcp_servers.mlflow.plugin import SKILL as MLFLOW
from mcp_servers.plugin import Skill

SKILLS: tuple[Skill, ...] = (AIQU, MLFLOW, DATASETS, GIT)


def named(name: str, skills: tuple[Skill, ...] = SKILLS) -> Skill:
    """The skill called `name`; ValueError listing the valid names."""
    for skill in skills:
        if skill.name == name:
            return skill
    raise ValueError(f"no skill {name!r}; valid: {', '.join(s.name for s in skills)}")


def proposal_words(skills: tuple[Skill, ...] = SKILLS) -> dict[str, str]:
    """Every gated write's kind, as a refusal names it ("git change", "job cancel")."""
    return {kind.name: kind.words for skill in skills for kind in skill.proposal_kinds}


def environment(skills: tuple[Skill, ...] = SKILLS) -> dict[str, str]:
    """What every process the service starts runs with: each skill's `environment`."""
    return {name: value for skill in skills for name, value in skill.environment.items()}
