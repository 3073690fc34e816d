"""The optional judge: graded against the rubric by a second endpoint, kept apart."""

from __future__ import annotations

from evals.bridge import Post
from evals.judge import Judge, judge_score
from evals.records import ScenarioRecord, StepRecord, TurnRecord
from evals.scenario import Expect
from tests.fakes.model import ModelRequest, Reply, ScriptedModel


def graded_run() -> ScenarioRecord:
    record = ScenarioRecord("crash", "t", ["diagnose"], 1, "e1")
    spoken = StepRecord(0, "event", 0.0, Expect(speak=True, rubric="names image_size"), None)
    spoken.turns.append(TurnRecord("t", "job:x", "event", "posted", "ok", 1.0, [], []))
    spoken.posts.append(Post("post", "C", "1.1", "Likely cause: image_size 1280 vs 640"))
    unrubricked = StepRecord(1, "event", 0.0, Expect(speak=True), None)
    record.steps += [spoken, unrubricked]
    return record


async def test_steps_with_a_rubric_are_graded_by_the_judge_endpoint() -> None:
    seen: list[ModelRequest] = []

    def judge(request: ModelRequest) -> Reply:
        seen.append(request)
        return Reply.text("It names the cause.\nSCORE: 8")

    async with ScriptedModel() as endpoint:
        endpoint.handler = judge
        record = graded_run()
        await Judge(endpoint.base_url, "judge").grade([record])
    assert len(seen) == 1 and not seen[0].raw["stream"]
    assert "Rubric: names image_size" in seen[0].last_user_text
    assert "image_size 1280 vs 640" in seen[0].last_user_text
    assert record.steps[0].judge == {"score": 0.8, "comment": "It names the cause.\nSCORE: 8"}
    assert record.steps[1].judge is None
    assert judge_score([record]) == 0.8


async def test_an_unreachable_judge_grades_nothing_and_breaks_nothing() -> None:
    async with ScriptedModel() as endpoint:
        endpoint.down = True
        record = graded_run()
        await Judge(endpoint.base_url, "judge", timeout_s=5).grade([record])
    assert record.steps[0].judge is not None and record.steps[0].judge["score"] is None
    assert judge_score([record]) is None
