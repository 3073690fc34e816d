"""The optional judge: a second endpoint grading each rubric step, in a way one can audit.

Off unless `--judge-base-url` and `--judge-model` are given. For every step with a
rubric it sees what the agent was given (the turn's input), the tools the agent
called with what they returned (so a grounded diagnosis and a guess read
differently), what it posted, and the rubric; it answers at temperature 0 with
a short reason and a last line `SCORE: <0-10>`. Each step keeps the grade, the
judge's words and what the judge was shown.

- graded: the judge returned a score;
- skipped: the agent posted nothing, so there was nothing to grade: scored 0 (a
  silent answer meets no rubric), without asking the judge;
- failed: the judge was asked and gave no usable score: left out of the mean, and
  counted, so a flaky judge is visible instead of silently flattering.

Its grades are reported as `judge` beside the deterministic scores, never mixed in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from evals.clip import clip
from evals.records import ScenarioRecord, StepRecord

PROMPT = """You grade an ML-operations assistant's chat message against a rubric.

The assistant watches GPU training jobs and posts short messages to engineers. You see
what it was given, the tools it called with their results, and what it posted. Grade
the message against the rubric only: a claim the tool results do not support counts
against it; a correct claim need not quote its source. Answer in at most three
sentences, then a last line exactly like: SCORE: <0-10>"""
SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE | re.MULTILINE)
PART_LIMIT = 12_000  # characters of the input and of the post the judge reads
RESULT_LIMIT = 1_500  # of each tool result
TOOLS_LIMIT = 8_000  # of all of them


@dataclass(frozen=True)
class Judge:
    base_url: str
    model: str
    api_key: str = "none"
    timeout_s: float = 120.0
    max_tokens: int = 400

    async def grade(self, records: list[ScenarioRecord]) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            for record in records:
                for step in record.steps:
                    if not step.expect.rubric:
                        continue
                    if not step.messages:
                        step.judge = {"outcome": "skipped", "score": 0.0, "comment": "no message"}
                        continue
                    step.judge = await self._grade(http, step)

    async def _grade(self, http: httpx.AsyncClient, step: StepRecord) -> dict[str, Any]:
        shown = judge_prompt(step)
        body = {
            "model": self.model,
            "stream": False,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "messages": [
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": shown},
            ],
        }
        try:
            response = await http.post(
                f"{self.base_url.rstrip('/')}/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
            response.raise_for_status()
            answer = response.json()["choices"][0]["message"]["content"] or ""
            if not isinstance(answer, str):
                raise TypeError(f"content is {type(answer).__name__}, not text")
        except (httpx.HTTPError, KeyError, IndexError, ValueError, TypeError) as exc:
            return {"outcome": "failed", "score": None, "comment": f"judge: {exc!r}"[:1000]}
        found = SCORE.search(answer)
        if found is None:
            comment = f"no SCORE line: {answer.strip()[:900]}"
            return {"outcome": "failed", "score": None, "comment": comment}
        score = min(10.0, float(found.group(1))) / 10
        return {"outcome": "graded", "score": score, "comment": answer.strip()[:1000]}


def judge_prompt(step: StepRecord) -> str:
    """What the judge is shown for one step (kept in the results for an audit)."""
    seen = clip("\n\n".join(t.input for t in step.turns), PART_LIMIT)
    tools = []
    for use in step.tools:
        arguments = json.dumps(use.arguments, ensure_ascii=False, default=str)
        result = clip(use.result or "(no result)", RESULT_LIMIT)
        tools.append(f"- {use.name}({arguments}) → {result}")
    called = clip("\n".join(tools), TOOLS_LIMIT) if tools else "(none)"
    said = clip("\n\n".join(p.text for p in step.messages), PART_LIMIT)
    return (
        f"Rubric: {step.expect.rubric}\n\nWhat the assistant was given:\n{seen}\n\n"
        f"Tools it called and what they returned:\n{called}\n\nWhat it posted:\n{said}"
    )


def judge_summary(records: list[ScenarioRecord]) -> dict[str, Any] | None:
    """The judge's mean over graded and skipped steps, with the counts; None without one."""
    grades = [s.judge for r in records for s in r.steps if s.judge]
    if not grades:
        return None
    counted = [g["score"] for g in grades if g.get("outcome") in ("graded", "skipped")]
    return {
        "score": round(sum(counted) / len(counted), 4) if counted else None,
        "graded": sum(1 for g in grades if g.get("outcome") == "graded"),
        "skipped": sum(1 for g in grades if g.get("outcome") == "skipped"),
        "failed": sum(1 for g in grades if g.get("outcome") == "failed"),
    }


def judge_grades(data_scenarios: list[dict[str, Any]]) -> list[float]:
    """The grades behind a results file's judge score (for a test between two files)."""
    return [
        float(st["judge"]["score"])
        for s in data_scenarios
        for st in s["steps"]
        if isinstance(st.get("judge"), dict)
        and st["judge"].get("outcome") in ("graded", "skipped")
        and isinstance(st["judge"].get("score"), int | float)
    ]
