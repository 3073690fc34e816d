"""The import rules of the layout (docs/architecture.md), checked on every file's AST.

`core/` imports neither side; `mcp_servers/` never imports `agent`; `agent/`
reaches a skill only as a process, except `doctor`'s way in through each
skill's declared `mcp_servers.<name>.health` entry point. A skill reads its
environment once, in its `__main__`, through `core.skill_env`. No exceptions list.
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


ENVIRONMENT = {"environ", "environb", "getenv"}


def environment_reads(path: Path) -> Iterator[int]:
    """Lines that read the process environment: `os.environ`, `os.getenv`, `from os import
    environ`/`getenv`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            names = {node.attr} if node.value.id == "os" else set()
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {alias.name for alias in node.names}
        else:
            continue
        if names & ENVIRONMENT:
            yield node.lineno


def test_skills_read_their_environment_only_in_their_entry_point() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in modules("mcp_servers")
        if path.name != "__main__.py"
        for line in environment_reads(path)
    ]
    assert found == []


def test_the_environment_check_sees_a_read() -> None:
    entry = ROOT / "mcp_servers" / "aiqu" / "__main__.py"
    assert list(environment_reads(entry))  # `SkillEnvironment.from_env(os.environ)`


@pytest.mark.parametrize(
    "server",
    sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "mcp_servers").glob("*/server.py")),
)
def test_a_server_module_only_registers(server: str) -> None:
    """A tool is declared once, in its tool module: a server module wraps nothing in a
    lambda and writes no function of its own but `build_server` (so no parameter list)."""
    tree = ast.parse((ROOT / server).read_text())
    lambdas = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    functions = [
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    assert (lambdas, functions) == ([], ["build_server"])
