"""The results file: what a run measured, as JSON (schema: evals/schema.json).

It keeps scores under plain keys (`scores.precision`, …) with the counts behind
each judgment score, their 95 % intervals and their spread over repeats, the
same per suite (and per difficulty), the judge's counts, and every scenario run
with every step: its expectations, the checks and how they went, and the
transcript (what the model saw, the tool calls and their results, what was
posted). Written after every scenario run, atomically; read back checked.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.errors import EvalError
from evals.judge import judge_summary
from evals.records import ScenarioRecord
from evals.scoring import step_checks, summarise
from evals.timing import format_offset

FORMAT = 2  # the version of evals/schema.json the file follows


def results(
    records: list[ScenarioRecord],
    *,
    model: str,
    base_url: str,
    brief_dir: Path,
    system_prompt: str | None,
    tools_offered: list[str],
    repeat: int,
    concurrency: int,
    startup_s: float,
    judge_model: str | None = None,
    complete: bool = True,
    rendered: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The results file's content (evals/schema.json). `complete` is False while the run
    goes on (the file is written after every scenario run); `rendered` caches each
    record's JSON by id."""
    summary = summarise(records)
    judge = judge_summary(records)
    suites = sorted({t for r in records for t in r.tags})
    rendered = {} if rendered is None else rendered
    return {
        "format": FORMAT,
        "complete": complete,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "base_url": base_url,
        "brief": str(brief_dir),
        "brief_sha256": _sha(system_prompt),
        "system_prompt": system_prompt,
        "tools_offered": tools_offered,
        "repeat": repeat,
        "concurrency": concurrency,
        "judge_model": judge_model,
        "scores": {**summary.scores, "judge": judge["score"] if judge else None},
        "spread": summary.spread,
        "counts": summary.counts,
        "intervals": summary.intervals,
        "judge": judge,
        "suites": {tag: _suite(records, tag) for tag in suites},
        "overhead": {
            "startup_s": round(startup_s, 2),
            "setup_s_mean": _mean(r.setup_s for r in records),
            "teardown_s_mean": _mean(r.teardown_s for r in records),
            "per_scenario_s_mean": _mean(r.setup_s + r.teardown_s for r in records),
            "per_scenario_s_max": round(
                max((r.setup_s + r.teardown_s for r in records), default=0), 3
            ),
        },
        "scenarios": [rendered[id(r)] if id(r) in rendered else _scenario(r) for r in records],
    }


def _suite(records: list[ScenarioRecord], tag: str) -> dict[str, Any]:
    chosen = [r for r in records if tag in r.tags]
    summary = summarise(chosen)
    judge = judge_summary(chosen)
    return {
        "scores": {**summary.scores, "judge": judge["score"] if judge else None},
        "spread": summary.spread,
        "counts": summary.counts,
        "intervals": summary.intervals,
    }


def _scenario(record: ScenarioRecord) -> dict[str, Any]:
    steps = []
    for step in record.steps:
        checks = step_checks(step)
        steps.append(
            {
                "index": step.index,
                "at": format_offset(step.at),
                "time": _iso(step.clock),
                "kind": step.kind,
                "expect": step.expect.model_dump(exclude_defaults=True),
                "spoke": step.spoke,
                "turns": len(step.turns),
                "passed": all(c.ok for c in checks),
                "checks": [
                    {
                        "check": c.name,
                        "category": c.category,
                        "ok": c.ok,
                        **({"detail": c.detail} if c.detail else {}),
                    }
                    for c in checks
                ],
                "gate": [{"kind": g.kind, "what": g.what} for g in step.gate],
                "error": step.error,
                "seconds": round(step.seconds, 3),
                "posted": [p.as_json() for p in step.posts],
                "jobs_started": step.started_jobs,
                "jobs_cancelled": step.cancelled_jobs,
                "remote_commits": step.remote_commits,
                "transcript": [t.as_json() for t in step.turns],
                **({"judge": step.judge} if step.judge else {}),
            }
        )
    passed = record.error is None and all(s["passed"] for s in steps)
    return {
        "id": record.scenario,
        "title": record.title,
        "tags": record.tags,
        "repeat": record.repeat,
        "names_suffix": record.tag,
        "passed": passed,
        "error": record.error,
        "setup_s": round(record.setup_s, 3),
        "teardown_s": round(record.teardown_s, 3),
        "seconds": round(record.seconds, 3),
        "steps": steps,
    }


def write(path: Path, data: dict[str, Any]) -> None:
    """Strict JSON, written whole or not at all (a kill mid-write leaves the last file)."""
    try:
        text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or an infinity that came from a model: kept as text
        text = json.dumps(_finite(data), indent=1, ensure_ascii=False, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    # A lone surrogate (a model may send `\\ud800`) cannot be UTF-8: written as its JSON
    # escape, which is what it was on the wire, and still valid JSON inside a string.
    partial.write_bytes((text + "\n").encode("utf-8", "backslashreplace"))
    partial.replace(path)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class ResultsFile:
    """The results file of a run in progress, rewritten after every finished scenario run
    (`complete: false` until the last), so a crash or a kill of a long run loses nothing.
    Each run is rendered once; the scores are recomputed over the runs so far."""

    def __init__(self, path: Path, meta: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.meta = meta  # results()'s keyword arguments, read at each write
        self.records: list[ScenarioRecord] = []
        self._rendered: dict[int, dict[str, Any]] = {}

    def add(self, record: ScenarioRecord) -> None:
        self.records.append(record)
        self._rendered[id(record)] = _scenario(record)
        self.write(self.records, complete=False)

    def write(self, records: list[ScenarioRecord], *, complete: bool) -> dict[str, Any]:
        data = results(records, complete=complete, rendered=self._rendered, **self.meta())
        write(self.path, data)
        return data


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise EvalError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or "scores" not in data or "format" not in data:
        raise EvalError(f"{path}: not a results file of `mlops-agent eval --output`")
    if data["format"] != FORMAT:
        raise EvalError(
            f"{path}: results format {data['format']}, this version reads format {FORMAT}"
            " (evals/schema.json): run the eval again to compare"
        )
    return data


def _mean(values: Any) -> float:
    values = list(values)
    return round(statistics.fmean(values), 3) if values else 0.0


def _iso(ts: float | None) -> str | None:
    """A moment on the scenario clock, as the service saw it."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _sha(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text else None
