"""The JSON and logs real Slurm daemons printed (`capture.py`), for the adapters' unit tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mcp_servers.aiqu.backends.slurm_json import Document, read_document

RECORDED = Path(__file__).resolve().parent / "recorded"


@dataclass(frozen=True)
class Recording:
    version: str

    @property
    def folder(self) -> Path:
        return RECORDED / self.version

    def text(self, name: str) -> str:
        return (self.folder / name).read_text()

    def document(self, name: str) -> Document:
        return read_document(self.text(name), name)

    @cached_property
    def ids(self) -> dict[str, str]:
        """Scenario name ("fails", "typed-gpus"…) → the Slurm job id it got."""
        return dict(json.loads(self.text("jobs.json"))["ids"])

    @property
    def release(self) -> str:
        return str(json.loads(self.text("jobs.json"))["release"])


def recorded(version: str) -> Recording:
    return Recording(version)
