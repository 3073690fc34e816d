"""Issue 27's storm: epoch events for several jobs while the model answers quickly, so that a
kill finds turns in flight; then what the model was asked, and when, after a restart.

Each event carries a `mark` (`m0`, `m1`, …) that the rendered turn shows as `mark=mN`, so a
model request tells which events it carries. Shared by the process-level test
(tests/e2e/test_restart_backlog.py) and the container one (tests/container/test_restart.py).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from tests.e2e.harness import post_event
from tests.fakes.model import ModelRequest, Reply, ScriptedModel

EVENTS = 31
JOBS = 6
INTERVAL_S = 0.05  # ~20 events a second
ANSWER_S = 0.2  # the model's time to first token
DELIVERY_S = 30.0  # every accepted event reaches the model this soon after /readyz

_MARK = re.compile(r"\bmark=(m\d+)\b")


def marks(text: str) -> set[str]:
    return set(_MARK.findall(text))


@dataclass(frozen=True)
class Asked:
    """One model request: when (monotonic), the marks of its turn, the roles of its history."""

    at: float
    marks: frozenset[str]
    roles: tuple[str, ...]

    @property
    def unanswered_turn(self) -> bool:
        """An earlier user message with no answer after it: a turn cut short left in the session."""
        roles = [r for r in self.roles if r != "system"]
        return any(a == b == "user" for a, b in zip(roles, roles[1:], strict=False))


@dataclass
class Storm:
    """Installs itself as the model's handler: answers every turn after ANSWER_S."""

    model: ScriptedModel
    asked: list[Asked] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model.delay_s = ANSWER_S
        self.model.handler = self._answer

    def _answer(self, request: ModelRequest) -> Reply:
        said = marks(request.last_user_text)
        roles = tuple(m["role"] for m in request.messages)
        self.asked.append(Asked(time.monotonic(), frozenset(said), roles))
        return Reply.text("noted " + " ".join(sorted(said)) if said else "ok")

    async def send(self, url: str, secret: str, first: int = 0, count: int = EVENTS) -> list[str]:
        """Post `count` signed epoch events ~20 a second, not waiting for one before the next;
        returns the marks of those accepted (202)."""

        async def one(n: int) -> str | None:
            job = f"cust-st/storm-{n % JOBS}"
            r = await post_event(
                url, secret, type="epoch", job=job, epoch=n // JOBS + 1, mark=f"m{n}"
            )
            return f"m{n}" if r.status_code == 202 else None

        sends = []
        for n in range(first, first + count):
            sends.append(asyncio.create_task(one(n)))
            await asyncio.sleep(INTERVAL_S)
        return [m for m in await asyncio.gather(*sends) if m]

    def reached(self, since: float) -> dict[str, float]:
        """Each mark's first request at or after `since` (monotonic), in seconds after it."""
        first: dict[str, float] = {}
        for asked in self.asked:
            if asked.at >= since:
                for mark in asked.marks:
                    first.setdefault(mark, asked.at - since)
        return first

    async def wait_reached(self, owed: set[str], since: float, deadline: float) -> dict[str, float]:
        """Wait until every owed mark reached the model after `since`, or the `deadline`
        (both monotonic); returns each mark's first request, in seconds after `since`."""
        while not owed <= set(self.reached(since)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return self.reached(since)

    def timeline(self, since: float) -> str:
        """The requests as lines `+s.ss  m1,m7 …`, relative to `since`, for a failure message."""
        return "\n".join(
            f"{a.at - since:+8.2f}  {','.join(sorted(a.marks, key=lambda m: int(m[1:])))}"
            + ("  (unanswered turn in history)" if a.unanswered_turn else "")
            for a in self.asked
        )
