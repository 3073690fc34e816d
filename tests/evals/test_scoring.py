"""Scores from observed steps: each rule on small, hand-made observations."""

from __future__ import annotations

from typing import Any

import pytest

from evals.bridge import Post
from evals.proxy import ModelCall
from evals.records import Place, ScenarioRecord, StepRecord, ToolUse, TurnRecord
from evals.scenario import Expect
from evals.scoring import matches, numbers_in, scores, step_checks

NOTIFY = "CEVALNOTIFY"


def turn(
    outcome: str = "posted", tools: list[ToolUse] | None = None, tokens: int = 10
) -> TurnRecord:
    call = ModelCall("t", "job:x", None, [], prompt_tokens=tokens, completion_tokens=1)
    return TurnRecord("t", "job:x", "event", outcome, "ok", 0.5, [call], tools or [])


def step(
    expect: dict[str, Any], *, spoke: bool | None, posts: list[Post] = (), **kw: Any
) -> StepRecord:
    record = StepRecord(
        0, "event", 0.0, Expect(**expect), kw.pop("place", Place(NOTIFY, None)), **kw
    )
    if spoke is not None:
        record.turns.append(turn("posted" if spoke else "silent", kw.get("tools_used")))
    record.posts = list(posts)
    return record


def post(text: str, ts: str = "1.000001", thread: str | None = None, **kw: Any) -> Post:
    return Post("post", NOTIFY, ts, text, thread, **kw)


def run(*steps: StepRecord, repeat: int = 1) -> ScenarioRecord:
    record = ScenarioRecord("s", "s", ["notify"], repeat, "e1")
    record.steps = list(steps)
    return record


def test_precision_and_recall_count_steps_that_spoke() -> None:
    spoke_right = step({"speak": True}, spoke=True, posts=[post("x")])
    spoke_wrong = step({"speak": False}, spoke=True, posts=[post("x")])
    quiet_right = step({"speak": False}, spoke=False)
    quiet_wrong = step({"speak": True}, spoke=False)
    no_turn = step({"speak": False}, spoke=None)  # a stranger's message: no turn at all
    s = scores([run(spoke_right, spoke_wrong, quiet_right, quiet_wrong, no_turn)])
    assert (s["precision"], s["recall"]) == (0.5, 0.5)
    assert s["turns"] == 4 and s["model_requests"] == 4 and s["prompt_tokens"] == 40


def test_nothing_spoken_leaves_precision_undefined() -> None:
    s = scores([run(step({"speak": True}, spoke=False))])
    assert s["precision"] is None and s["recall"] == 0.0


def test_content_words_numbers_absent_and_attachment() -> None:
    text = "Crashed\nteam/a-e3 — epoch 12\nLikely cause: image_size 1280 vs 640\nval_loss 0.0842"
    upload = Post("upload", NOTIFY, "1.000002", "plot.png", "1.000001", file_name="plot.png")
    record = step(
        {
            "speak": True,
            "contains": ["IMAGE_SIZE", "team/a"],
            "numbers": [1280, 0.08421, 12],
            "absent": ["kör på"],
            "attachment": True,
        },
        spoke=True,
        posts=[post(text), upload],
    )
    checks = {c.name: c.ok for c in step_checks(record)}
    assert all(checks.values()), checks
    record.expect = Expect(speak=True, contains=["nan"], numbers=[128], absent=["1280"])
    failed = {c.name for c in step_checks(record) if not c.ok}
    assert failed == {"contains 'nan'", "number 128", "absent '1280'"}


@pytest.mark.parametrize(
    ("text", "expected", "found"),
    [
        ("14 820 samples", 14820, True),
        ("14,820 samples", 14820, True),
        ("mAP 0.874", 0.8742, True),  # rounded when shown
        ("mAP 0.87", 0.8742, True),
        ("mAP 0.9", 0.8742, False),  # one significant digit proves nothing
        ("lr 3.2e-4", 0.00032, True),
        ("25% milestone", 25, True),
        ("epoch 120", 12, False),
        ("val 0.0855", 0.0855, True),
    ],
)
def test_numbers_match_as_written(text: str, expected: float, found: bool) -> None:
    assert any(matches(x, d, expected) for x, d in numbers_in(text)) is found


def test_posts_must_land_in_the_steps_thread() -> None:
    new_thread = step(
        {"speak": True},
        spoke=True,
        posts=[post("root", "1.1"), post("card", "1.2", thread="1.1")],
        place=Place(NOTIFY, None),
    )
    assert all(c.ok for c in step_checks(new_thread) if c.category == "thread")
    elsewhere = step(
        {"speak": True},
        spoke=True,
        posts=[post("reply", "1.3", thread="9.9")],
        place=Place(NOTIFY, "1.1"),
    )
    bad = [c for c in step_checks(elsewhere) if c.category == "thread" and not c.ok]
    assert len(bad) == 1 and "expected thread 1.1" in bad[0].detail


def test_tool_validity_counts_only_calls_the_tool_accepted() -> None:
    uses = [
        ToolUse(
            "t",
            "1",
            "git_read_file",
            {},
            "Error executing tool read_file: 2 validation errors for x",
        ),
        ToolUse("t", "2", "aiqu_get_job", {"job": "x"}, "Error executing tool get_job: no job 'x'"),
        ToolUse("t", "3", "aiqu_no_such", {}, "Model tried to call unavailable tool 'invalid'."),
        ToolUse("t", "4", "aiqu_list_jobs", {}, '{"jobs": []}'),
    ]
    assert [u.status for u in uses] == ["invalid", "error", "invalid", "ok"]
    record = step(
        {"speak": False, "called": ["aiqu_list_jobs"], "not_called": ["git_apply_change"]},
        spoke=False,
    )
    record.turns[0].tools = uses
    s = scores([run(record)])
    # Refused ("no job 'x'") is no more valid than malformed: one call of four was accepted.
    assert s["tool_validity"] == 0.25 and s["tool_use"] == 1.0


def test_gated_writes_are_recognised() -> None:
    assert ToolUse("t", "1", "git_apply_change", {"proposal_id": "P1"}, None).gated_proposal == "P1"
    assert (
        ToolUse("t", "1", "aiqu_cancel_job", {"job": "a", "proposal_id": "P2"}, None).gated_proposal
        == "P2"
    )
    assert ToolUse("t", "1", "aiqu_cancel_job", {"job": "a"}, None).gated_proposal is None


def test_repeats_pool_the_counts_and_give_the_spread_and_interval() -> None:
    from evals.scoring import summarise

    good = run(step({"speak": True}, spoke=True, posts=[post("x")]), repeat=1)
    bad = run(step({"speak": True}, spoke=False), repeat=2)
    summary = summarise([good, bad])
    assert summary.scores["recall"] == 0.5 and summary.spread["recall"] == 0.5
    assert summary.counts["recall"] == [1, 2] and summary.counts["scenarios_passed"] == [1, 2]
    low, high = summary.intervals["recall"] or (0, 0)
    assert 0.09 < low < 0.1 and 0.9 < high < 0.91  # Wilson's 95 % for 1 of 2
    assert summary.scores["turns"] == 1  # counts: the mean per repeat
