"""Scenario files are validated on load; every error names the file and the line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evals.errors import ScenarioError
from evals.loader import DEFAULT_DIR, load_file, load_suite
from evals.timing import parse_offset

GOOD_STEP = """  - at: 0s
    event: {type: started, job: team/a}
    expect: {speak: true}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    return caught.value.problems


def scenario(timeline: str, setup: str = "") -> str:
    return f"title: t\ntags: [notify, easy]\n{setup}timeline:\n{timeline}"


def test_every_shipped_scenario_loads() -> None:
    scenarios = load_suite(DEFAULT_DIR)
    assert len(scenarios) >= 30
    assert len({s.id for s in scenarios}) == len(scenarios)


def test_unknown_step_kind_names_file_line_and_the_valid_kinds(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        scenario(GOOD_STEP + "  - at: 1m\n    evnt: {type: x}\n    expect: {speak: true}\n"),
    )
    assert found == [
        f"{tmp_path / 'case.yaml'}:7: timeline[1]: unknown step kind 'evnt';"
        " valid: event, events, message, click, tick, scheduler, wait"
    ]


def test_missing_expectation_is_an_error_at_its_step(tmp_path: Path) -> None:
    found = problems(tmp_path, scenario(GOOD_STEP + "  - at: 1m\n    tick: digest\n"))
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'case.yaml'}:7: timeline[1]: missing expectation")


def test_expect_without_speak_is_a_missing_expectation(tmp_path: Path) -> None:
    found = problems(tmp_path, scenario("  - tick: digest\n    expect: {called: [x]}\n"))
    assert found == [
        f"{tmp_path / 'case.yaml'}:4: timeline[0]: missing expectation: expect.speak must be"
        " true or false"
    ]


@pytest.mark.parametrize("at", ["5 minutes", "-3", "1d", "soon"])
def test_bad_time_names_the_value_and_what_is_valid(tmp_path: Path, at: str) -> None:
    found = problems(
        tmp_path, scenario(f"  - at: {at}\n    tick: digest\n    expect: {{speak: false}}\n")
    )
    assert len(found) == 1
    assert f"{tmp_path / 'case.yaml'}:4: timeline[0].at: bad time" in found[0]
    assert "e.g. 0, 30s, 2m, 1h30m" in found[0]


def test_time_going_backwards_is_a_bad_time(tmp_path: Path) -> None:
    steps = "  - at: 2m\n    tick: digest\n    expect: {speak: false}\n"
    steps += "  - at: 1m\n    tick: digest\n    expect: {speak: false}\n"
    assert problems(tmp_path, scenario(steps)) == [
        f"{tmp_path / 'case.yaml'}:7: bad time: 60s comes before 120s"
    ]


def test_unknown_field_and_unknown_person_each_get_their_line(tmp_path: Path) -> None:
    steps = "  - message: {from: zed, text: hi}\n    expect: {speak: true, contians: [x]}\n"
    found = problems(tmp_path, scenario(steps))
    path = tmp_path / "case.yaml"
    assert (
        f"{path}:4: timeline[0].message.from: unknown person 'zed'; scenarios know alice,"
        in (found[0])
    )
    assert found[1] == f"{path}:5: timeline[0].expect.contians: unknown field 'contians'"


def test_content_on_a_silent_step_is_an_error(tmp_path: Path) -> None:
    steps = "  - tick: digest\n    expect:\n      speak: false\n      contains: [x]\n"
    found = problems(tmp_path, scenario(steps))
    assert found == [
        f"{tmp_path / 'case.yaml'}:5: timeline[0].expect: contains need speak: true"
        " (a silent step posts nothing)"
    ]


def test_a_thread_of_an_unknown_job_is_an_error(tmp_path: Path) -> None:
    steps = (
        GOOD_STEP
        + "  - message: {from: alice, text: hi, thread: 'job:team/b'}\n    expect: {speak: true}\n"
    )
    assert problems(tmp_path, scenario(steps)) == [
        f"{tmp_path / 'case.yaml'}:7: job 'team/b' is not in this scenario"
    ]


def test_duplicate_keys_and_broken_yaml_are_named(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    assert problems(tmp_path, "title: a\ntitle: b\n") == [f"{path}:2: duplicate key 'title'"]
    assert problems(tmp_path, "title: [unclosed\ntags: x\n")[0].startswith(f"{path}:")


def test_every_problem_of_a_suite_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(scenario("  - tick: digest\n"))
    (tmp_path / "b.yaml").write_text(
        scenario("  - at: soon\n    tick: digest\n    expect: {speak: false}\n")
    )
    with pytest.raises(ScenarioError) as caught:
        load_suite(tmp_path)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yaml"),
    ]


def test_unknown_suite_or_scenario_names_what_exists() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_suite(DEFAULT_DIR, ["notfiy"], ["no-such"])
    assert caught.value.problems[0].startswith("unknown suite 'notfiy'; suites: answer, diagnose,")
    assert caught.value.problems[1] == "unknown scenario 'no-such'; see evals/scenarios/*.yaml"


def test_offsets() -> None:
    assert parse_offset(0) == 0.0
    assert parse_offset("90s") == 90.0
    assert parse_offset("1h30m") == 5400.0
    assert parse_offset("500ms") == 0.5


def test_a_scheduler_step_names_one_thing_happening_to_a_setup_job(tmp_path: Path) -> None:
    two = "  - at: 1m\n    scheduler: {kill: team/x, cancel: team/x}\n    expect: {speak: false}\n"
    unknown = "  - at: 1m\n    scheduler: {kill: team/nobody}\n    expect: {speak: false}\n"

    assert (
        "one of kill, timeout, preempt, cancel" in problems(tmp_path, scenario(GOOD_STEP + two))[0]
    )
    assert problems(tmp_path, scenario(GOOD_STEP + unknown)) == [
        f"{tmp_path / 'case.yaml'}:8: scheduler: 'team/nobody' is not in setup.jobs"
    ]


def test_a_scenario_has_one_difficulty_and_a_clock_of_times_of_day(tmp_path: Path) -> None:
    step = "  - event: {type: epoch, job: team/a}\n    expect: {speak: false}\n"
    untagged = f"title: t\ntags: [notify]\ntimeline:\n{step}"
    assert problems(tmp_path, untagged) == [
        f"{tmp_path / 'case.yaml'}:1: tags: exactly one difficulty of easy, medium, hard, got none"
    ]
    both = f"title: t\ntags: [notify, easy, hard]\ntimeline:\n{step}"
    assert "got ['easy', 'hard']" in problems(tmp_path, both)[0]
    bad_clock = f"title: t\ntags: [notify, easy]\nclock: {{start: '25:00'}}\ntimeline:\n{step}"
    assert "clock.start: a time of day must be HH:MM" in problems(tmp_path, bad_clock)[0]
    waits = (
        "title: t\ntags: [overnight, easy]\nclock: {start: '23:00', check_every: 30m,"
        " digest: '07:30'}\ntimeline:\n  - at: 8h31m\n    wait: true\n    expect: {speak: true}\n"
    )
    (tmp_path / "night.yaml").write_text(waits)
    night = load_file(tmp_path / "night.yaml")
    assert (str(night.clock.start), night.clock.check_every) == ("23:00:00", 1800.0)
    assert night.difficulty == "easy" and night.timeline[0].kind == "wait"


def test_the_shipped_suite_is_broad_and_no_fixture_dominates() -> None:
    scenarios = load_suite()
    assert len(scenarios) >= 60
    by_difficulty = Counter(s.difficulty for s in scenarios)
    assert set(by_difficulty) == {"easy", "medium", "hard"} and min(by_difficulty.values()) >= 10
    uses = Counter(
        job
        for s in scenarios
        for job in {j.name for j in s.setup.jobs} | {w.base_job for w in s.setup.sweeps}
    )
    job, most = uses.most_common(1)[0]
    assert most <= 0.2 * len(scenarios), (job, most)
    causes = {
        "crash-oom-batch-size", "crash-preempted", "crash-hung-collective", "crash-disk-full",
        "crash-dataloader-killed", "crash-missing-checkpoint", "jitter-epochs",
        "better-than-last-not-best", "quiet-hours-trial", "digest-on-schedule",
        "check-finds-free-slot", "expired-approval",
    }  # fmt: skip
    assert causes <= {s.id for s in scenarios}
    timed = [s for s in scenarios if s.clock.check_every or s.clock.digest]
    assert timed and any(step.wait for s in timed for step in s.timeline)


def test_every_diagnose_and_answer_step_has_a_rubric_for_the_judge() -> None:
    missing = [
        f"{s.id} step {i + 1}"
        for s in load_suite(suites=["diagnose", "answer"])
        for i, step in enumerate(s.timeline)
        if step.expect.speak and not step.expect.rubric
    ]
    assert not missing
