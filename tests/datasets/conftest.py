"""A real dataset tree for every datasets test (built fresh per test: it is tiny)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.datasets import DatasetStore
from tests.datasets.tree import build_tree


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return build_tree(tmp_path)


@pytest.fixture
def store(root: Path) -> DatasetStore:
    return DatasetStore(root)
