"""The reference agent's silence policy, read from the system prompt it receives (the brief).

Each kind of quiet is honoured only while the brief asks for it, so an edited
brief changes what the agent does: drop "Stay silent for the rest: routine
epochs…" and routine epochs, wobbles and repeats get a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = re.compile(r"reply with exactly `([^`]+)`", re.IGNORECASE)


@dataclass(frozen=True)
class Policy:
    marker: str | None  # the silence marker; None: the brief gives no way to stay silent
    quiet_routine: bool  # routine epochs (and other events nobody needs)
    quiet_wobbles: bool
    quiet_repeats: bool
    quiet_sweeps: bool  # routine trial epochs and trial ends
    quiet_checks: bool  # a scheduled check with nothing to act on
    quiet_empty_digest: bool

    @classmethod
    def from_brief(cls, system: str) -> Policy:
        text = " ".join(system.split()).casefold()
        marker = MARKER.search(" ".join(system.split()))

        def says(pattern: str) -> bool:
            return re.search(pattern, text) is not None

        return cls(
            marker=marker.group(1) if marker else None,
            quiet_routine=says(r"silent[^.]*routine epochs"),
            quiet_wobbles=says(r"silent[^.]*wobbles"),
            quiet_repeats=says(r"silent[^.]*repeats"),
            quiet_sweeps=says(r"routine epochs and trial ends: silence"),
            quiet_checks=says(r"scheduled check[^*]*otherwise silence"),
            quiet_empty_digest=says(r"nothing ran: silence"),
        )

    def silent(self, quiet: bool) -> bool:
        return quiet and self.marker is not None
