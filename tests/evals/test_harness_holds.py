"""No model output crashes the harness: each kind of garbage a real model produced (or
could) becomes a scored failure of its step, and the results file keeps every finished
run. Each case on the code that reads it; the whole path runs in test_garbage_model.py."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from evals.bridge import Post
from evals.judge import Judge
from evals.play import parsed_arguments, tool_uses
from evals.proxy import ModelCall, _read_completion, _StreamReader
from evals.records import Place, ScenarioRecord, StepRecord, ToolUse, TurnRecord
from evals.report import ResultsFile, read, results, write
from evals.scenario import Expect
from evals.scoring import matches, numbers_in, scores, step_checks, summarise
from tests.fakes.model import ModelRequest, ScriptedModel

NOTIFY = "CEVALNOTIFY"
# What the 1.5B posted on a quiet run: the turn header and the event, word for word.
ECHO = (
    "[turn_id=183e694ad0f1c2b3a4d5e6f708192a3b conversation=job:team/a-e1 items=1 (event)]\n\n"
    "event crashed 10:00:00Z job=team/a-e1\nepoch=12 error=CUDA out of memory"
)


def spoken(text: str, expect: dict[str, Any], tools: list[ToolUse] | None = None) -> StepRecord:
    record = StepRecord(0, "event", 0.0, Expect(**expect), Place(NOTIFY, None))
    call = ModelCall("t", "job:x", None, [], prompt_tokens=10, completion_tokens=1)
    record.turns.append(
        TurnRecord("t", "job:x", "event", "posted", "ok", 0.5, [call], list(tools or []))
    )
    record.posts = [Post("post", NOTIFY, "1.000001", text)]
    return record


def run_of(*steps: StepRecord) -> ScenarioRecord:
    record = ScenarioRecord("s", "s", ["notify"], 1, "e1")
    record.steps = list(steps)
    return record


# -- numbers -----------------------------------------------------------------------


def test_an_echoed_turn_header_is_scored_not_a_crash() -> None:
    record = spoken(ECHO, {"speak": True, "numbers": [12, 183]})
    checks = {c.name: c.ok for c in step_checks(record)}
    assert checks["number 12"] is True
    assert checks["number 183"] is False  # 183e694ad… is an id, not a number
    assert scores([run_of(record)])["content_hits"] == 0.5


@pytest.mark.parametrize(
    "text",
    [
        "turn_id=183e694ad0f1",  # the crash: read as 183e694 = inf
        "loss 1e999",
        "loss " + "9" * 400,  # a float beyond range
        "loss 0." + "0" * 400 + "1",
        "loss 1" + "0" * 5000 + ".5",  # more digits than int() converts
        "loss 1e99999999",
        "loss NaN, inf, -inf, Infinity",
        "loss −1e-400",
        "0x1f 0b101 1_000 ½ ٣ 1e-3e4",
    ],
)
def test_numbers_out_of_range_or_malformed_are_skipped(text: str) -> None:
    found = numbers_in(text)
    assert all(math.isfinite(x) for x, _ in found), found
    assert not any(matches(x, d, 12.5) for x, d in found)
    record = spoken(text, {"speak": True, "numbers": [12.5, 0.001]})
    assert [c.ok for c in step_checks(record) if c.category == "content"] == [False, False]


def test_nan_and_infinity_are_refused_as_expected_numbers() -> None:
    with pytest.raises(ValueError, match="finite"):
        Expect(speak=True, numbers=[float("inf")])
    with pytest.raises(ValueError, match="finite"):
        Expect(speak=True, numbers=[float("nan")])


def test_matches_refuses_non_finite_values() -> None:
    assert not matches(float("inf"), -694, 5.0)
    assert not matches(float("nan"), 0, float("nan"))
    assert not matches(1e308, -308, float("inf"))


# -- huge replies ------------------------------------------------------------------


def test_a_huge_reply_is_checked_whole_and_kept_short_in_the_file(tmp_path: Path) -> None:
    text = ("epoch 12 val_loss 0.0842 " * 200_000) + "image_size"  # ~5 MB
    record = spoken(text, {"speak": True, "contains": ["image_size"], "numbers": [0.0842]})
    started = time.monotonic()
    checks = step_checks(record)
    assert time.monotonic() - started < 30  # linear, not quadratic (generous for a busy box)
    assert all(c.ok for c in checks if c.category == "content")
    data = _results([run_of(record)])
    write(tmp_path / "r.json", data)
    posted = read(tmp_path / "r.json")["scenarios"][0]["steps"][0]["posted"][0]["text"]
    assert len(posted) < 25_000 and posted.endswith(f"({len(text)} chars)")


def test_a_step_that_cannot_be_checked_is_a_failed_step() -> None:
    record = spoken("x", {"speak": True, "contains": ["x"]})
    record.posts = [Post("post", NOTIFY, "1.1", None)]  # type: ignore[arg-type]
    checks = step_checks(record)
    assert [(c.name, c.ok) for c in checks] == [("scored", False)]
    assert "could not be checked" in checks[0].detail
    s = scores([run_of(record)])
    assert s["scenarios_passed"] == 0.0


# -- the model's stream, as the proxy reads it ----------------------------------------


def sse(*events: Any) -> bytes:
    return b"".join(
        b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
        for e in events
    )


def read_stream(payload: bytes, chunk: int = 7) -> ModelCall:
    call = ModelCall("t", "job:x", None, [])
    reader = _StreamReader(call)
    for i in range(0, len(payload), chunk):
        reader.feed(payload[i : i + chunk])
    reader.finish()
    return call


def delta(d: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": d}]}


def test_a_stream_of_garbage_is_read_without_failing() -> None:
    call = read_stream(
        sse(
            b"not json",
            b"[1, 2]",
            b"12",
            {"choices": None},
            {"choices": [None, 3, "x"]},
            {"choices": [{"delta": None}]},
            {"choices": [{"delta": ["x"]}]},
            {"choices": []},  # empty choices
            delta({"content": 7}),
            delta({"content": "Hello"}),
            delta({"tool_calls": "nope"}),
            delta({"tool_calls": [None, {"index": "zero", "function": {"name": 5}}]}),
            delta({"tool_calls": [{"index": 1, "id": "c1", "function": {"name": "aiqu_get_job"}}]}),
            delta({"tool_calls": [{"index": 1, "function": {"arguments": '{"job": "te'}}]}),
            delta({"tool_calls": [{"index": 2, "function": {"name": "x", "arguments": {"a": 1}}}]}),
            b"[" * 100_000,  # nests deeper than json can read
            {"usage": {"prompt_tokens": 1e400, "completion_tokens": True}},
            b"[DONE]",
        )
        + b'data: {"choices": [{"delta": {"content": " world"}}]}'  # no newline: cut off
    )
    assert call.text == "Hello world"
    assert call.tool_calls == [
        {"id": "", "name": "5", "arguments": ""},  # no usable index: a call of its own
        {"id": "c1", "name": "aiqu_get_job", "arguments": '{"job": "te'},
        {"id": "", "name": "x", "arguments": '{"a": 1}'},
    ]
    assert (call.prompt_tokens, call.completion_tokens) == (None, None)


@pytest.mark.parametrize(
    "usage",
    [{"prompt_tokens": -1}, {"prompt_tokens": "12"}, {"prompt_tokens": 10**15}, [12], "x"],
)
def test_usage_that_is_not_a_count_is_left_out(usage: Any) -> None:
    call = read_stream(sse(delta({"content": "x"}), {"choices": [], "usage": usage}))
    assert call.prompt_tokens is None
    assert scores([run_of(_turned(call))])["prompt_tokens"] is None


def test_a_reply_of_megabytes_in_tiny_deltas_is_read_in_linear_time() -> None:
    piece = delta({"content": "ab"})
    payload = sse(*([piece] * 200_000))  # 400 KB of text in 200,000 events
    started = time.monotonic()
    call = read_stream(payload, chunk=4096)
    assert len(call.text) == 400_000
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"null",
        b"[]",
        b'{"choices": []}',
        b'{"choices": null}',
        b'{"choices": [{"message": null}]}',
        b'{"choices": [{"message": {"content": null, "tool_calls": "x"}}]}',
        b'{"choices": [{"message": {"tool_calls": [null, {"function": {"arguments": {}}}]}}]}',
        b'{"usage": {"prompt_tokens": NaN}, "choices": [{"message": {"content": "ok"}}]}',
    ],
)
def test_a_whole_answer_of_any_shape_is_read_without_failing(payload: bytes) -> None:
    call = ModelCall("t", "job:x", None, [])
    _read_completion(call, payload)
    assert call.prompt_tokens is None
    assert all(isinstance(v, str) for tc in call.tool_calls for v in tc.values())


# -- tool calls ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"job": "team/a"}', {"job": "team/a"}),
        ('{"job": "te', '{"job": "te'),
        ("", {}),
        ("[1, 2]", [1, 2]),
        ('{"lr": NaN}', '{"lr": NaN}'),
        ('{"lr": Infinity}', '{"lr": Infinity}'),
        ("[" * 100_000, "[" * 100_000),
    ],
)
def test_tool_arguments_that_are_not_json_stay_text(raw: str, parsed: Any) -> None:
    assert parsed_arguments(raw) == parsed


def test_malformed_tool_calls_are_recorded_and_scored() -> None:
    call = ModelCall("t", "job:x", None, [])
    call.tool_calls = [{"id": "c1", "name": "aiqu_get_job", "arguments": '{"job": '}]
    call.turn_messages = [
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": "The arguments provided to the tool are invalid",
        }
    ]
    (use,) = tool_uses("t", [call])
    assert use.arguments == '{"job": ' and use.status == "invalid" and use.gated_proposal is None
    record = spoken("x", {"speak": True, "called": ["aiqu_get_job"]}, [use])
    assert scores([run_of(record)])["tool_validity"] == 0.0


# -- the results file ----------------------------------------------------------------


def test_the_file_is_strict_json_whatever_the_model_sent(tmp_path: Path) -> None:
    record = spoken("lone \ud800 surrogate and kör på", {"speak": True})
    use = ToolUse("t", "c1", "aiqu_get_job", {"lr": float("nan"), "x": float("inf")}, "ok")
    record.turns[0].tools = [use]
    path = tmp_path / "r.json"
    write(path, _results([run_of(record)]))
    text = path.read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the file"))
    step = data["scenarios"][0]["steps"][0]
    assert step["posted"][0]["text"] == "lone \ud800 surrogate and kör på"
    assert step["transcript"][0]["tool_calls"][0]["arguments"] == {"lr": "nan", "x": "inf"}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no partial file left


def test_results_are_written_after_every_scenario_run(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    file = ResultsFile(path, lambda: _meta())
    first = run_of(spoken("Crashed: epoch 12", {"speak": True, "numbers": [12]}))
    file.add(first)
    partial = read(path)
    assert partial["complete"] is False and len(partial["scenarios"]) == 1
    assert partial["scores"]["scenarios_passed"] == 1.0
    second = run_of(spoken("x", {"speak": False}))
    file.add(second)
    assert len(read(path)["scenarios"]) == 2
    final = file.write([first, second], complete=True)
    assert read(path) == json.loads(json.dumps(final)) and final["complete"] is True
    assert final["scores"]["scenarios_passed"] == 0.5


def test_counts_stay_counts_with_garbage_in_the_mix() -> None:
    bad = _turned(ModelCall("t", "job:x", None, [], prompt_tokens=None, completion_tokens=None))
    summary = summarise([run_of(bad), run_of(spoken("x", {"speak": True}))])
    assert summary.scores["prompt_tokens"] == 10 and summary.scores["turns"] == 2


# -- the judge ----------------------------------------------------------------------


class Garbage(ScriptedModel):
    """An endpoint whose whole answers are whatever `bodies` holds, in turn."""

    def __init__(self, bodies: list[bytes]) -> None:
        super().__init__()
        self.bodies = bodies

    async def _chat(self, http_request: Any) -> Any:
        from aiohttp import web

        self.requests.append(ModelRequest(raw=await http_request.json(), headers={}))
        return web.Response(body=self.bodies.pop(0), content_type="application/json")


async def test_a_judge_that_answers_garbage_grades_nothing_and_breaks_nothing() -> None:
    bodies = [
        b'{"choices": []}',
        b'{"choices": null}',
        b'{"choices": [{"message": {"content": 7}}]}',
        b"[]",
        b"not json",
        b'{"choices": [{"message": {"content": "fine. SCORE: 99999999999999999999"}}]}',
    ]
    records = [run_of(spoken(ECHO * 5000, {"speak": True, "rubric": "r"})) for _ in bodies]
    async with Garbage(bodies) as endpoint:
        await Judge(endpoint.base_url, "judge", timeout_s=10).grade(records)
        sent = [len(r.raw["messages"][1]["content"]) for r in endpoint.requests]
    grades = [r.steps[0].judge for r in records]
    assert [g["score"] if g else "none" for g in grades] == [None] * 5 + [1.0]
    assert all(n < 30_000 for n in sent)  # a huge reply is graded on its start


def _turned(call: ModelCall) -> StepRecord:
    record = spoken("x", {"speak": True})
    record.turns[0].calls = [call]
    return record


def _meta() -> dict[str, Any]:
    return dict(
        model="m",
        base_url="http://x/v1",
        brief_dir=Path("brief"),
        system_prompt="b",
        tools_offered=[],
        repeat=1,
        concurrency=1,
        startup_s=1.0,
    )


def _results(records: list[ScenarioRecord]) -> dict[str, Any]:
    return results(records, **_meta())
