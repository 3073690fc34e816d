"""Relative times in a scenario's timeline: `0`, `45s`, `2m`, `1h30m`, `500ms`."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
EXAMPLES = "e.g. 0, 30s, 2m, 1h30m"


def parse_offset(value: object) -> float:
    """Seconds from the scenario's start; ValueError naming the bad value otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"bad time {value!r}: {EXAMPLES}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"bad time {value!r}: times count from the start, {EXAMPLES}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text and _PART.sub("", text) == "":
            return sum(float(n) * _UNIT_S[unit] for n, unit in _PART.findall(text))
    raise ValueError(f"bad time {value!r}: {EXAMPLES}")


def format_offset(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        (f"{hours}h" if hours else "")
        + (f"{minutes}m" if minutes else "")
        + (f"{secs}s" if secs else "")
    )
