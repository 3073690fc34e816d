"""Local wall-clock rules shared by the supervisor and the skills.

`HH:MM` times (the morning digest), IANA zones, and quiet hours such as
`22:00-06:00` (may wrap midnight): the aiqu skill starts no new work inside
them, and the supervisor validates the same setting at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


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
    def parse(cls, raw: str | None, zone: str | None = None) -> QuietHours | None:
        """`MLOPS_QUIET_HOURS` in `MLOPS_TIMEZONE`; None when unset."""
        if not raw or not raw.strip():
            return None
        start, sep, end = raw.partition("-")
        if not sep:
            raise ValueError(
                f"MLOPS_QUIET_HOURS must be HH:MM-HH:MM, e.g. 22:00-06:00; got {raw!r}"
            )
        return cls(
            parse_hhmm(start, "MLOPS_QUIET_HOURS start"),
            parse_hhmm(end, "MLOPS_QUIET_HOURS end"),
            parse_zone(zone),
        )

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone}"

    def contains(self, ts: float) -> bool:
        now = datetime.fromtimestamp(ts, self.zone).time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # wraps midnight
