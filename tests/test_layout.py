"""The rules of the layout (docs/architecture.md), checked on every file's AST.

`core/` imports neither side and names no skill; `mcp_servers/` never imports
`agent`; `agent/` reaches a skill only as a process, and knows the skills only
through their plugin descriptors (`mcp_servers.registry`, `.plugin`, `.sweep_views`);
`agent/` never imports the eval harness. A skill process reads its environment
once, in an entry point. No import cycles, no function over 80 lines, no class
over 250. No exceptions list.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_ENTRY = re.compile(r"mcp_servers\.(registry|plugin|sweep_views)(\..+)?")
PACKAGES = ("agent", "core", "mcp_servers", "mlops_reporter", "evals")
SIZED = ("agent", "core", "mcp_servers")
MAX_FUNCTION_LINES, MAX_CLASS_LINES = 80, 250


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


def test_the_supervisor_knows_skills_only_through_their_plugin_descriptors() -> None:
    assert offences("agent", "mcp_servers", allowed=PLUGIN_ENTRY) == []


def test_the_supervisor_never_imports_the_eval_harness() -> None:
    assert offences("agent", "evals") == []


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
    entry = ROOT / "mcp_servers" / "__main__.py"
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


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (`from a import b` is `a.b` when that is a
    module, else `a`). A package a module lives in is not an edge: Python imports it first
    anyway. Imports under TYPE_CHECKING count."""
    paths = {module_name(p): p for package in PACKAGES for p in modules(package)}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges = set()
        for _, target in imported(path):
            while target and target not in paths:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_anywhere() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def skill_names() -> set[str]:
    from mcp_servers.registry import SKILLS

    return {skill.name for skill in SKILLS}


def words(text: str) -> set[str]:
    """`MLOPS_GIT_REPOS`, `gitRepos` and "a git repo" all hold the word `git`."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return set(re.findall(r"[a-z]+", spaced.lower()))


def skill_mentions(path: Path, names: set[str]) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            text = node.name
        elif isinstance(node, ast.arg):
            text = node.arg
        else:
            continue
        for name in sorted(words(text) & names):
            yield f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)} names {name}"


def test_core_names_no_skill() -> None:
    """No identifier or string in `core/` (docstrings included) holds a skill's name."""
    names = skill_names()
    assert [hit for path in modules("core") for hit in skill_mentions(path, names)] == []


def test_the_skill_name_check_sees_a_name() -> None:
    sample = ROOT / "mcp_servers" / "git" / "settings.py"
    assert any("names git" in hit for hit in skill_mentions(sample, skill_names()))


def oversized(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION_LINES
        elif isinstance(node, ast.ClassDef):
            limit = MAX_CLASS_LINES
        else:
            continue
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > limit:
            yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} is {lines} lines (> {limit})"


@pytest.mark.parametrize("package", SIZED)
def test_no_function_over_80_lines_and_no_class_over_250(package: str) -> None:
    assert [hit for path in modules(package) for hit in oversized(path)] == []


def part(module: str) -> str:
    """`agent.engine.turns` is part of `agent.engine`; a top-level package is its own part."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "agent" and len(parts) > 1 else parts[0]


def part_graph() -> dict[str, set[str]]:
    """Part -> the parts it imports. A `__main__` module is an entry point: it is run, never
    imported, so its imports make no part depend on another."""
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module.endswith("__main__"):
            continue
        edges = graph.setdefault(part(module), set())
        edges.update(part(t) for t in targets if part(t) != part(module))
    for edges in list(graph.values()):
        for target in edges:
            graph.setdefault(target, set())
    return graph


def test_the_parts_form_layers_with_no_arrow_back_up() -> None:
    """The wings of `agent/` (model, opencode, chat, engine, intake, watch, web, ...), the
    composition root (`agent.service`), the commands (`agent.cli`), `core`, the skills and
    the eval harness: no loop between any of them, so each sits above what it imports."""
    assert cycles(part_graph()) == []


@pytest.mark.parametrize("top", ["agent.service", "agent.cli"])
def test_only_the_commands_reach_the_composition_root(top: str) -> None:
    reaching = {p for p, targets in part_graph().items() if top in targets}
    assert reaching <= {"agent.cli", "evals"} - {top}
