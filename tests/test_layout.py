"""The import rules of the layout (docs/architecture.md), checked on every file's AST.

`core/` imports neither side; `mcp_servers/` never imports `agent`; `agent/`
reaches a skill only as a process, except `doctor`'s way in through each
skill's declared `mcp_servers.<name>.health` entry point. No exceptions list.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEALTH_ENTRY = re.compile(r"mcp_servers\.[a-z_]+\.health")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of everything a file imports, `from a import b` as `a.b`."""
    here = path.relative_to(ROOT).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = here[: len(here) - node.level]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def offences(package: str, forbidden: str, allowed: re.Pattern[str] | None = None) -> list[str]:
    found = []
    for path in modules(package):
        for line, name in imported(path):
            if (name == forbidden or name.startswith(forbidden + ".")) and not (
                allowed and allowed.fullmatch(name)
            ):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


def test_skills_never_import_the_supervisor() -> None:
    assert offences("mcp_servers", "agent") == []


def test_the_supervisor_reaches_skills_only_through_their_health_entry_points() -> None:
    assert offences("agent", "mcp_servers", allowed=HEALTH_ENTRY) == []


@pytest.mark.parametrize("side", ["agent", "mcp_servers"])
def test_core_imports_neither_side(side: str) -> None:
    assert offences("core", side) == []


def test_the_check_sees_relative_and_from_imports() -> None:
    """The walker itself: a check that cannot see an import would pass anything."""
    sample = ROOT / "mcp_servers" / "aiqu" / "health.py"
    names = [name for _, name in imported(sample)]
    assert "mcp_servers.aiqu.skill.health" in names  # `from .skill import health`
    assert "core.skill_env.SkillEnvironment" in names
