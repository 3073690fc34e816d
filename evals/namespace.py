"""Give one run of a scenario names of its own.

Runs share a service (starting one costs seconds), and the service keys a
job's conversation, its chat thread and its opencode session on the job's
name. So each run renames the scenario's jobs and sweeps with a suffix
(`team/pcb-v2` becomes `team/pcb-v2-e7`) everywhere: setup, events, people's
messages, expectations. A suffix keeps every expectation written against the
plain name true as a substring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evals.scenario import Scenario


@dataclass(frozen=True)
class Namespace:
    tag: str  # e.g. "e7"
    names: dict[str, str]  # the scenario's name -> this run's
    _pattern: re.Pattern[str] | None

    @classmethod
    def for_run(cls, scenario: Scenario, tag: str) -> Namespace:
        names = {job: f"{job}-{tag}" for job in scenario.declared_jobs()}
        for sweep in scenario.setup.sweeps:
            names[sweep.id] = f"{sweep.id}-{tag}"
            for n in range(len(sweep.trials)):
                names[f"{sweep.id}/trial-{n}"] = f"{sweep.id}-{tag}/trial-{n}"
        # Longest first, and never inside a longer name: `a/b` must not rewrite `a/b-large`.
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w./-])(?:{alternatives})(?![\w/-]|\.\w)") if names else None
        return cls(tag, names, pattern)

    def name(self, value: str) -> str:
        return self.names.get(value, value)

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda m: self.names[m.group(0)], value)

    def deep(self, value: Any) -> Any:
        """Every string inside `value` (dicts, lists) rewritten."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value
