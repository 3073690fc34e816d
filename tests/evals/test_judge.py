"""The optional judge: every rubric step graded by a second endpoint, and auditable —
it sees the tool results, answers at temperature 0, and every step is counted as
graded, skipped (nothing posted: 0) or failed (no grade: out of the mean)."""

from __future__ import annotations

from evals.bridge import Post
from evals.judge import Judge, judge_prompt, judge_summary
from evals.records import ScenarioRecord, StepRecord, ToolUse, TurnRecord
from evals.scenario import Expect
from tests.fakes.model import ModelRequest, Reply, ScriptedModel

RUBRIC = "names image_size 1280 against a head for 640"


def rubric_step(index: int, said: str | None) -> StepRecord:
    step = StepRecord(index, "event", 0.0, Expect(speak=True, rubric=RUBRIC), None)
    config = ToolUse("t", "c1", "git_read_file", {"path": "train_cfg.yaml"}, "image_size: 1280")
    step.turns.append(TurnRecord("t", "job:x", "event", "posted", "ok", 1.0, [], [config]))
    if said is not None:
        step.posts.append(Post("post", "C", f"1.{index}", said))
    return step


def graded_run() -> ScenarioRecord:
    record = ScenarioRecord("crash", "t", ["diagnose"], 1, "e1")
    unrubricked = StepRecord(3, "event", 0.0, Expect(speak=True), None)
    unrubricked.posts.append(Post("post", "C", "1.9", "Started"))
    record.steps += [
        rubric_step(0, "Likely cause: image_size 1280 vs 640"),
        rubric_step(1, None),  # the agent said nothing
        rubric_step(2, "It is probably the batch size."),
        unrubricked,
    ]
    return record


async def test_every_rubric_step_is_graded_at_temperature_0_seeing_the_tool_results() -> None:
    seen: list[ModelRequest] = []

    def judge(request: ModelRequest) -> Reply:
        seen.append(request)
        if "batch size" in request.last_user_text:
            return Reply.text("I cannot tell.")  # no SCORE line: a failed grade
        return Reply.text("It names the cause.\nSCORE: 8")

    record = graded_run()
    async with ScriptedModel() as endpoint:
        endpoint.handler = judge
        await Judge(endpoint.base_url, "judge").grade([record])
    assert len(seen) == 2  # the silent step is not sent
    assert all(r.raw["temperature"] == 0 and not r.raw["stream"] for r in seen)
    shown = seen[0].last_user_text
    assert f"Rubric: {RUBRIC}" in shown and "image_size 1280 vs 640" in shown
    assert 'git_read_file({"path": "train_cfg.yaml"}) → image_size: 1280' in shown
    assert shown == judge_prompt(record.steps[0])
    outcomes = [s.judge and (s.judge["outcome"], s.judge["score"]) for s in record.steps]
    assert outcomes == [("graded", 0.8), ("skipped", 0.0), ("failed", None), None]
    assert judge_summary([record]) == {"score": 0.4, "graded": 1, "skipped": 1, "failed": 1}


async def test_an_unreachable_judge_fails_every_grade_and_says_so() -> None:
    async with ScriptedModel() as endpoint:
        endpoint.down = True
        record = graded_run()
        await Judge(endpoint.base_url, "judge", timeout_s=5).grade([record])
    assert record.steps[0].judge is not None and record.steps[0].judge["outcome"] == "failed"
    summary = judge_summary([record])
    assert summary == {"score": 0.0, "graded": 0, "skipped": 1, "failed": 2}


def test_no_judge_no_summary() -> None:
    assert judge_summary([ScenarioRecord("s", "t", ["notify"], 1, "e1")]) is None
