"""The watcher's facts from one snapshot and a job's events (pure: no process, no clock)."""

from __future__ import annotations

from agent.watch.facts import EventSeen, JobSeen, WatchConfig, observe

CONFIG = WatchConfig(grace_s=60, silence_factor=3, silence_min_s=900)
T0 = 1_800_000_000.0


def job(**kw: object) -> JobSeen:
    values: dict[str, object] = {
        "id": "42",
        "name": "cust/pcb-v2",
        "attempt": 1,
        "state": "running",
        "active": True,
        "raw_state": "RUNNING",
        "submitted_at": T0 - 10,
        "started_at": T0,
        "via_aiqu": True,
    }
    values.update(kw)
    return JobSeen.of(values)


def ended(**kw: object) -> JobSeen:
    base = {"state": "failed", "active": False, "raw_state": "OUT_OF_MEMORY", "ended_at": T0 + 600}
    return job(**{**base, **kw})


def events(*times: float, last: str = "epoch", attempt: int | None = 1) -> list[EventSeen]:
    types = ["epoch"] * (len(times) - 1) + [last]
    return [
        EventSeen(i + 1, t, T0 + at, attempt, None, f"epoch={i + 1}")
        for i, (at, t) in enumerate(zip(times, types, strict=True))
    ]


def facts(j: JobSeen, evs: list[EventSeen], now: float, **kw: object) -> list[str]:
    found = observe(j, evs, now=now, watching_since=T0 - 3600, config=CONFIG, **kw)  # type: ignore[arg-type]
    return [f.key for f in found]


def test_an_end_without_a_word_is_a_fact_once_the_grace_passed() -> None:
    dead = ended(reason="OutOfMemory", exit_code=-9)
    evs = events(60, 120)

    assert facts(dead, evs, now=T0 + 630) == []  # its crashed event may be on its way
    found = observe(dead, evs, now=T0 + 661, watching_since=T0 - 3600, config=CONFIG)

    assert [f.key for f in found] == ["42:1.0:ended"]
    text = found[0].text
    assert "OUT_OF_MEMORY" in text and "'OutOfMemory'" in text and "signal 9 (SIGKILL)" in text
    assert "Last event: epoch epoch=2" in text and found[0].conversation == "job:cust/pcb-v2"


def test_a_crash_event_and_the_schedulers_failure_are_one_story() -> None:
    assert facts(ended(), events(60, 120, 125, last="crashed"), now=T0 + 5000) == []
    assert facts(ended(state="succeeded"), events(60, 590, last="finished"), now=T0 + 5000) == []


def test_another_attempts_crash_does_not_speak_for_this_one() -> None:
    earlier = events(60, 120, last="crashed", attempt=2)  # attempt 2 told its crash

    assert facts(ended(), earlier, now=T0 + 5000) == ["42:1.0:ended"]


def test_the_grace_counts_from_when_the_watcher_began() -> None:
    """Ends from while the service was down: their events may still be in a spool."""
    dead = ended()
    late = observe(dead, [], now=T0 + 5000, watching_since=T0 + 4990, config=CONFIG)
    later = observe(dead, [], now=T0 + 5051, watching_since=T0 + 4990, config=CONFIG)

    assert late == [] and [f.key for f in later] == ["42:1.0:ended"]


def test_silence_is_measured_against_the_jobs_own_rhythm_and_the_minimum() -> None:
    every_10_min = events(*(600 * n for n in range(1, 6)))  # last event at T0 + 3000

    assert facts(job(), every_10_min, now=T0 + 3000 + 1799) == []  # 3 × 10 min not yet
    assert facts(job(), every_10_min, now=T0 + 3000 + 1800) == ["42:1.0:silent:5:0"]


def test_a_fast_job_is_still_given_the_minimum() -> None:
    every_second = events(*range(1, 31))

    assert facts(job(), every_second, now=T0 + 30 + 899) == []
    assert facts(job(), every_second, now=T0 + 30 + 900) == ["42:1.0:silent:30:0"]


def test_one_silence_is_one_fact_until_it_doubles() -> None:
    evs = events(*range(1, 31))
    keys = {k for now in (930, 1200, 1500, 1799) for k in facts(job(), evs, now=T0 + now)}
    doubled = facts(job(), evs, now=T0 + 30 + 1800)
    resumed = facts(job(), events(*range(1, 32)), now=T0 + 31 + 900)

    assert keys == {"42:1.0:silent:30:0"}
    assert doubled == ["42:1.0:silent:30:1"]
    assert resumed == ["42:1.0:silent:31:0"]  # a new event ended that silence


def test_no_silence_without_a_rhythm_or_while_pending() -> None:
    assert facts(job(), events(1), now=T0 + 10**6) == []
    assert facts(job(state="pending", started_at=None), events(1, 2), now=T0 + 10**6) == []


def test_a_scheduler_requeue_is_a_fact_per_restart() -> None:
    requeued = job(state="pending", raw_state="REQUEUED", restarts=1, reason="BeginTime")

    found = observe(requeued, events(60), now=T0 + 100, watching_since=T0, config=CONFIG)

    assert [f.key for f in found] == ["42:1.1:requeued"]
    assert "restart 1" in found[0].text and "REQUEUED" in found[0].text


def test_an_end_names_the_attempts_that_followed() -> None:
    later = job(id="43", attempt=2, started_at=T0 + 700)

    found = observe(ended(), [], now=T0 + 5000, watching_since=T0, config=CONFIG, newer=[later])

    assert "attempt 2 (job 43) is running" in found[0].text


def test_a_sweep_trials_facts_go_to_its_sweep() -> None:
    trial = ended(name="lr-night/trial-3", labels={"sweep": "lr-night", "trial": "3"})

    found = observe(trial, [], now=T0 + 5000, watching_since=T0, config=CONFIG)

    assert found[0].conversation == "sweep:lr-night"
