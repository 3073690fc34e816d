"""The optional judge: a second endpoint grading what was said against a step's rubric.

Off unless `--judge-base-url` and `--judge-model` are given. It sees what the
agent saw in the step (the turn's input), what it posted, and the rubric, and
answers with a score out of 10 on its last line. Its grades are reported as
`judge` beside the deterministic scores, never mixed into them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from evals.clip import clip
from evals.records import ScenarioRecord, StepRecord

PROMPT = """You grade an ML-operations assistant's chat message.

The assistant watches GPU training jobs and posts short messages to engineers.
Grade the message against the rubric only. Answer in at most three sentences,
then a last line exactly like: SCORE: <0-10>"""
JUDGE_LIMIT = 12_000  # characters of each part the judge reads
SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Judge:
    base_url: str
    model: str
    api_key: str = "none"
    timeout_s: float = 120.0

    async def grade(self, records: list[ScenarioRecord]) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            for record in records:
                for step in record.steps:
                    if step.expect.rubric and step.spoke:
                        step.judge = await self._grade(http, step)

    async def _grade(self, http: httpx.AsyncClient, step: StepRecord) -> dict[str, object]:
        seen = clip("\n\n".join(t.input for t in step.turns), JUDGE_LIMIT)
        said = clip("\n\n".join(p.text for p in step.messages), JUDGE_LIMIT)
        body = {
            "model": self.model,
            "stream": False,
            "messages": [
                {"role": "system", "content": PROMPT},
                {
                    "role": "user",
                    "content": f"Rubric: {step.expect.rubric}\n\nWhat the assistant was given:\n"
                    f"{seen}\n\nWhat it posted:\n{said}",
                },
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
            return {"score": None, "comment": f"judge unavailable: {exc!r}"[:1000]}
        found = SCORE.search(answer)
        score = min(10.0, float(found.group(1))) / 10 if found else None
        return {"score": score, "comment": answer.strip()[:1000]}


def judge_score(records: list[ScenarioRecord]) -> float | None:
    grades = [
        s.judge["score"]
        for r in records
        for s in r.steps
        if s.judge and isinstance(s.judge.get("score"), float)
    ]
    return round(sum(grades) / len(grades), 4) if grades else None  # type: ignore[arg-type]
