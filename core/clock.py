"""The time, and the wall-clock rules shared by the supervisor and the skills.

`Clock` is the one place the product's time-based rules read the time (see its
docstring for who reads it). `HH:MM` times (the morning digest), IANA zones, and
quiet hours such as `22:00-06:00` (may wrap midnight): the job scheduler skill starts no
new work inside them, and the supervisor validates the same setting at start.
"""

from __future__ import annotations

import os
import re
import time as wall
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CLOCK_FILE_VARIABLE = "MLOPS_CLOCK_FILE"


class Clock:
    """The time as the product's time-based rules read it: real time, or a virtual clock.

    Readers, each given `now` (the supervisor passes its `Service.clock.now`; a skill
    process uses the module-level `now()`, which reads `MLOPS_CLOCK_FILE`):
    - supervisor: the schedule (sweep ticks, the morning digest), the inbox's received
      times (what the model sees as an item's time), the ledger (proposal expiry);
      any new time-based part (e.g. a watcher of silent jobs) reads `Service.clock`;
    - skills: the sweeps (quiet hours, timestamps), the agent's GPU-hour budget window,
      the local scheduler (start and end times, time limits), job runtimes.
    Durations that measure this machine (turn latency, timeouts, polling) stay on
    real time, and so do the turn log's start and end.

    Virtual: `file` holds an offset in seconds that is added to real time. The eval
    harness moves it forward at each step's `at:` (`advance_to`), so hours of a
    scenario pass in no time while everything still sees time flow; it never goes back.
    """

    def __init__(self, file: Path | None = None) -> None:
        self.file = file

    def now(self) -> float:
        return wall.time() + self.offset()

    def offset(self) -> float:
        if self.file is None:
            return 0.0
        try:
            return float(self.file.read_text(encoding="ascii").strip() or 0.0)
        except (OSError, ValueError):
            return 0.0  # not written yet (or mid-replace: never, the write is atomic)

    def advance_to(self, moment: float) -> float:
        """Move a virtual clock forward to `moment` (never back); returns its time now."""
        if self.file is None:
            raise RuntimeError("a real clock cannot be moved")
        offset = max(self.offset(), moment - wall.time())
        partial = self.file.with_name(self.file.name + ".partial")
        partial.write_text(repr(offset), encoding="ascii")
        partial.replace(self.file)
        return wall.time() + offset


_PROCESS: Clock | None = None


def now() -> float:
    """This process's time: virtual where its environment names a clock file (a skill
    started by an eval service), real otherwise."""
    global _PROCESS
    if _PROCESS is None:
        path = os.environ.get(CLOCK_FILE_VARIABLE)
        _PROCESS = Clock(Path(path) if path else None)
    return _PROCESS.now()


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
