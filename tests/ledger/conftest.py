from __future__ import annotations

from pathlib import Path

import pytest

from core.ledger import Ledger


class Clock:
    """A settable clock, so expiry is tested without sleeping."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(state_dir: Path, clock: Clock) -> Ledger:
    key = Ledger.create_key(state_dir / "ledger.key")
    return Ledger(state_dir / "ledger.sqlite", key, clock=clock)
