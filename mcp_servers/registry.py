"""The skills this build ships: one line each. Adding a skill is its own folder (with a
`plugin.py` exporting `SKILL`) plus its line in `SKILLS`; everything below, the
supervisor and `doctor` read the list when they run."""

from __future__ import annotations

from pathlib import Path

from core.proposals import GateContext
from mcp_servers.aiqu.plugin import SKILL as AIQU
from mcp_servers.datasets.plugin import SKILL as DATASETS
from mcp_servers.git.plugin import SKILL as GIT
from mcp_servers.mlflow.plugin import SKILL as MLFLOW
from mcp_servers.plugin import Skill
from mcp_servers.sweep_views import SweepRecord, SweepView

SKILLS: tuple[Skill, ...] = (AIQU, MLFLOW, DATASETS, GIT)


def named(name: str) -> Skill:
    """The skill called `name`; ValueError listing the valid names."""
    for skill in SKILLS:
        if skill.name == name:
            return skill
    raise ValueError(f"no skill {name!r}; valid: {', '.join(s.name for s in SKILLS)}")


def proposal_words() -> dict[str, str]:
    """Every gated write's kind, as a refusal names it ("git change", "job cancel")."""
    return {kind.name: kind.words for skill in SKILLS for kind in skill.proposal_kinds}


def environment() -> dict[str, str]:
    """What every process the service starts runs with: each skill's `environment`."""
    return {name: value for skill in SKILLS for name, value in skill.environment.items()}


def sweep_records(state_dir: Path) -> list[SweepRecord]:
    """Every sweep the skills keep in `state_dir`, newest first."""
    found = [r for skill in SKILLS if skill.sweeps for r in skill.sweeps.records(state_dir)]
    return sorted(found, key=lambda r: r.created, reverse=True)


def sweep_views(state_dir: Path) -> list[SweepView]:
    """Every sweep with its trials, newest first."""
    found = [v for skill in SKILLS if skill.sweeps for v in skill.sweeps.views(state_dir)]
    return sorted(found, key=lambda v: v.record.created, reverse=True)


def sweep_base_jobs(state_dir: Path) -> dict[str, str]:
    """Each sweep's base job name, by sweep id: a sweep's route is its base job's."""
    return {r.id: str(r.spec.get("base_job_name") or "") for r in sweep_records(state_dir)}


def gate_context() -> GateContext:
    """What each skill's gate must know of all of them."""
    return GateContext(proposal_words(), sweep_base_jobs)
