"""Local wall-clock rules: quiet hours for starting new work, and "HH:MM" parsing.

`MLOPS_QUIET_HOURS="22:00-06:00"` (may wrap midnight) in `MLOPS_TIMEZONE`
(an IANA name such as "Europe/Stockholm"; default: the machine's zone). The
supervisor's scheduler reads the same two variables for the morning digest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import Refused

HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class QuietHoursRefused(Refused):
    pass


def parse_hhmm(raw: str, what: str) -> time:
    match = HHMM.fullmatch(raw.strip())
    if not match:
        raise ValueError(f"{what} must be HH:MM on a 24-hour clock, e.g. 07:30; got {raw!r}")
    return time(int(match[1]), int(match[2]))


def parse_zone(raw: str | None) -> tzinfo:
    """An IANA zone, or the machine's local zone when unset."""
    if not raw:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"MLOPS_TIMEZONE must be an IANA zone name such as Europe/Stockholm or UTC; got {raw!r}"
        ) from None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: tzinfo

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QuietHours | None:
        raw = env.get("MLOPS_QUIET_HOURS") or ""
        if not raw.strip():
            return None
        start, sep, end = raw.partition("-")
        if not sep:
            raise ValueError(
                f"MLOPS_QUIET_HOURS must be HH:MM-HH:MM, e.g. 22:00-06:00; got {raw!r}"
            )
        return cls(
            parse_hhmm(start, "MLOPS_QUIET_HOURS start"),
            parse_hhmm(end, "MLOPS_QUIET_HOURS end"),
            parse_zone(env.get("MLOPS_TIMEZONE")),
        )

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone}"

    def contains(self, ts: float) -> bool:
        now = datetime.fromtimestamp(ts, self.zone).time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # wraps midnight

    def check(self, ts: float) -> None:
        """Refuse to start new work inside the quiet hours, saying when it may start."""
        if self.contains(ts):
            now = datetime.fromtimestamp(ts, self.zone)
            raise QuietHoursRefused(
                f"refused: quiet hours {self} (now {now:%H:%M}); no new trials start before"
                f" {self.end:%H:%M}. Running trials go on; report and prune as usual"
            )
