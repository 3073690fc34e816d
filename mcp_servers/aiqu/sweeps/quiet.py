"""Quiet hours as a refusal: no new trial starts inside them (the rule is `core.clock`)."""

from __future__ import annotations

from datetime import datetime

from core.clock import QuietHours

from ..errors import Refused

__all__ = ["QuietHours", "QuietHoursRefused", "check_quiet_hours"]


class QuietHoursRefused(Refused):
    pass


def check_quiet_hours(quiet: QuietHours, ts: float) -> None:
    """Refuse to start new work inside the quiet hours, saying when it may start."""
    if quiet.contains(ts):
        now = datetime.fromtimestamp(ts, quiet.zone)
        raise QuietHoursRefused(
            f"refused: quiet hours {quiet} (now {now:%H:%M}); no new trials start before"
            f" {quiet.end:%H:%M}. Running trials go on; report and prune as usual"
        )
