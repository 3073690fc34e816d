"""Read-only by construction: the package has no code that could write, and using
every tool leaves the store byte for byte as it was."""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

import mcp_servers.datasets as package
from mcp_servers.datasets import (
    DatasetStore,
    check_labels,
    diff_versions,
    list_datasets,
    version_stats,
)

PACKAGE_DIR = Path(package.__file__).parent
# The only functions of `os` the package may call: none of them changes the disk.
READING_OS_CALLS = {"open", "read", "pread", "close", "scandir", "stat", "lstat", "fstat"}
# Methods that write whatever object they are called on (Path, file, shutil).
WRITING_METHODS = {
    "mkdir", "makedirs", "unlink", "rmdir", "rmtree", "rename", "symlink_to", "hardlink_to",
    "touch", "chmod", "write", "writelines", "write_text", "write_bytes", "copyfile", "copytree",
}  # fmt: skip
WRITING_MODULES = {"shutil", "tempfile"}
WRITING_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def _source_trees() -> list[tuple[str, ast.AST]]:
    return [(p.name, ast.parse(p.read_text())) for p in sorted(PACKAGE_DIR.glob("*.py"))]


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def test_the_package_calls_only_reading_functions_of_os() -> None:
    used = {
        call.func.attr
        for _, tree in _source_trees()
        for call in _calls(tree)
        if isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "os"
    }
    assert used <= READING_OS_CALLS, used - READING_OS_CALLS


def test_the_package_calls_no_writing_method() -> None:
    found = [
        f"{name}:{call.lineno} {call.func.attr}()"
        for name, tree in _source_trees()
        for call in _calls(tree)
        if isinstance(call.func, ast.Attribute) and call.func.attr in WRITING_METHODS
    ]
    assert found == []


def test_the_package_imports_no_module_made_for_writing() -> None:
    imported = set()
    for _, tree in _source_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported.isdisjoint(WRITING_MODULES)


def test_no_open_in_the_package_asks_for_writing() -> None:
    modes = []
    for name, tree in _source_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
                mode = node.args[1] if len(node.args) > 1 else None
                modes.append((name, mode.value if isinstance(mode, ast.Constant) else mode))
            if isinstance(node, ast.Attribute) and node.attr in WRITING_FLAGS:
                modes.append((name, node.attr))
    assert all(mode in (None, "r", "rb") for _, mode in modes), modes


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    state = {}
    for folder, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = os.path.join(folder, entry)
            info = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            state[os.path.relpath(path, root)] = (digest, info.st_mtime_ns)
    return state


def test_using_every_tool_leaves_the_store_unchanged(root: Path) -> None:
    before = _snapshot(root.parent)
    store = DatasetStore(root)
    list_datasets(store)
    for dataset, version in [("pcb", "v1"), ("pcb", "v2"), ("traffic", "v1")]:
        version_stats(store, dataset, version)
        check_labels(store, dataset, version)
    diff_versions(store, "pcb", "v1", "v2")
    assert _snapshot(root.parent) == before
