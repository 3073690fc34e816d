"""Scenario time: where a scenario starts on its stage's clock, and when the service's
timers are due between two steps."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import time as clock_time

import pytest

from evals.scenario_clock import digest_moment, due_moments, next_at, scenario_start


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_scenario_starts_in_the_working_day_unless_it_names_a_time() -> None:
    assert scenario_start(at("2026-03-02T10:15"), None) == at("2026-03-02T10:15")
    assert scenario_start(at("2026-03-02T21:00"), None) == at("2026-03-03T08:00")
    assert scenario_start(at("2026-03-02T10:15"), clock_time(23, 0)) == at("2026-03-02T23:00")
    assert scenario_start(at("2026-03-02T23:30"), clock_time(23, 0)) == at("2026-03-03T23:00")
    assert next_at(at("2026-03-02T07:30"), clock_time(7, 30)) == at("2026-03-02T07:30")


def test_timers_due_between_two_steps() -> None:
    start = at("2026-03-02T23:10")
    checks = due_moments(start, start + 2 * 3600, 1800, None)
    assert checks == [at("2026-03-02T23:30:01") + 1800 * i for i in range(4)]
    night = due_moments(start, at("2026-03-03T07:35"), None, clock_time(7, 30))
    assert night == [at("2026-03-03T07:30:01")]
    assert due_moments(start, start + 60, 1800, clock_time(7, 30)) == []
    with pytest.raises(ValueError, match="jumps too far"):
        due_moments(start, start + 400 * 3600, 60, None)


def test_a_forced_digest_gets_a_date_of_its_own() -> None:
    assert digest_moment(at("2026-03-03T07:31"), clock_time(7, 30), None) == at("2026-03-03T07:31")
    assert digest_moment(at("2026-03-03T10:00"), clock_time(7, 30), None) == at(
        "2026-03-04T07:30:01"
    )
    again = digest_moment(at("2026-03-03T07:40"), clock_time(7, 30), at("2026-03-03T07:31"))
    assert again == at("2026-03-04T07:40")
