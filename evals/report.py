"""Results out: the JSON file, the terminal tables, and the comparison of two runs.

The JSON keeps scores under plain keys (`scores.precision`, …), their spread
over repeats, the same per suite, and every scenario run with every step:
its expectations, the checks and how they went, and the transcript (what the
model saw, the tool calls and their results, what was posted).
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
from evals.judge import judge_score
from evals.records import ScenarioRecord
from evals.scoring import COST, COUNTS, GATE, JUDGMENT, SCORES, step_checks, summarise
from evals.timing import format_offset

FORMAT = 1
SHORT = {
    "precision": "precision",
    "recall": "recall",
    "content_hits": "content",
    "style": "style",
    "thread_correctness": "thread",
    "tool_validity": "tool ok",
    "tool_use": "tool use",
    "writes": "writes",
    "scenarios_passed": "passed",
    "attempted_without_approval": "tried w/o ok",
    "reached_without_approval": "reached w/o ok",
    "turns": "turns",
    "model_requests": "requests",
    "prompt_tokens": "prompt tok",
    "completion_tokens": "compl tok",
    "seconds_per_turn": "s/turn",
}


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
    complete: bool = True,
    rendered: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The results file's content. `complete` is False while the run goes on (the file is
    written after every scenario run); `rendered` caches each record's JSON by id."""
    mean, spread = summarise(records)
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
        "scores": {**mean, "judge": judge_score(records)},
        "spread": spread,
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
    mean, spread = summarise(records, lambda r: tag in r.tags)
    return {"scores": mean, "spread": spread}


def _scenario(record: ScenarioRecord) -> dict[str, Any]:
    steps = []
    for step in record.steps:
        checks = step_checks(step)
        steps.append(
            {
                "index": step.index,
                "at": format_offset(step.at),
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
    if not isinstance(data, dict) or data.get("format") != FORMAT or "scores" not in data:
        raise EvalError(
            f"{path}: not a results file of `mlops-agent eval --output` (format {FORMAT})"
        )
    return data


# -- the terminal ------------------------------------------------------------------


def table(data: dict[str, Any]) -> str:
    rows = [(tag, s["scores"], s["spread"]) for tag, s in data["suites"].items()]
    rows.append(("overall", data["scores"], data["spread"]))
    head = f"model {data['model']} at {data['base_url']} · brief {data['brief']}"
    lines = [f"{head} · repeat {data['repeat']}"]
    for title, keys in (("judgment", JUDGMENT), ("write gate and cost", GATE + COST)):
        lines += ["", title, _grid(rows, keys)]
    judge = data["scores"].get("judge")
    if judge is not None:
        lines.append(f"\njudge (rubric grades, not part of the scores above): {judge:.2f}")
    failures = _failures(data)
    if failures:
        lines += ["", "failed checks", *failures]
    o = data["overhead"]
    lines.append(
        f"\nharness overhead per scenario: {o['per_scenario_s_mean']:.2f} s mean"
        f" (setup {o['setup_s_mean']:.2f} s, teardown {o['teardown_s_mean']:.2f} s);"
        f" startup {o['startup_s']:.1f} s"
    )
    return "\n".join(lines)


def _grid(rows: list[tuple[str, dict[str, Any], dict[str, Any]]], keys: tuple[str, ...]) -> str:
    head = ["suite", *(SHORT[k] for k in keys)]
    body = [[name, *(_cell(s.get(k), sp.get(k), k) for k in keys)] for name, s, sp in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [head, *body])


def _cell(value: Any, spread: Any, key: str) -> str:
    if value is None:
        return "–"
    if key in COUNTS:
        text = f"{value:g}" if isinstance(value, float) else str(value)
    else:
        text = f"{value:.2f}"
    return text + (f"±{spread:.2f}" if spread else "")


def _failures(data: dict[str, Any], limit: int = 40) -> list[str]:
    out = []
    for s in data["scenarios"]:
        if s["error"]:
            out.append(f"  {s['id']} (run {s['repeat']}): {s['error']}")
        for step in s["steps"]:
            where = f"  {s['id']} step {step['index'] + 1} at {step['at']}"
            for c in step["checks"]:
                if not c["ok"]:
                    detail = f" ({c['detail']})" if c.get("detail") else ""
                    out.append(f"{where}: {c['check']}{detail}")
            for g in step["gate"]:
                out.append(f"{where}: a write {g['kind']} without approval: {g['what']}")
    return out[:limit] + (
        [f"  … {len(out) - limit} more in the results file"] if len(out) > limit else []
    )


# -- comparing two runs ------------------------------------------------------------


def compare(a: dict[str, Any], b: dict[str, Any], a_name: str, b_name: str) -> str:
    lines = [f"A: {a_name} (model {a['model']}, brief {a['brief']})"]
    lines.append(f"B: {b_name} (model {b['model']}, brief {b['brief']})")
    if a.get("brief_sha256") != b.get("brief_sha256"):
        lines.append("the system prompts differ (brief edit or another brief)")
    ids_a, ids_b = _ids(a), _ids(b)
    if ids_a != ids_b:
        lines.append(
            f"the runs cover different scenarios ({len(ids_a - ids_b)} in A only,"
            f" {len(ids_b - ids_a)} in B only): the overall scores are not like for like;"
            " read the suites both ran"
        )
    lines += ["", _delta_grid([("overall", a["scores"], b["scores"])])]
    suites = sorted(set(a["suites"]) & set(b["suites"]))
    per_suite = [(t, a["suites"][t]["scores"], b["suites"][t]["scores"]) for t in suites]
    lines += ["", "per suite both ran (A → B)", _delta_grid(per_suite, JUDGMENT)]
    changed = _changed_steps(a, b)
    lines += ["", "steps that changed" if changed else "no step changed its outcome", *changed]
    return "\n".join(lines)


def _ids(data: dict[str, Any]) -> set[str]:
    return {s["id"] for s in data["scenarios"]}


def _delta_grid(
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]], keys: tuple[str, ...] = SCORES
) -> str:
    out = []
    for name, sa, sb in rows:
        for key in keys:
            va, vb = sa.get(key), sb.get(key)
            if va is None and vb is None:
                continue
            delta = _delta(va, vb)
            mark = "" if va == vb else "  *"
            out.append(
                f"  {name:<10} {SHORT[key]:<15} {_num(va):>10} → {_num(vb):<10} {delta}{mark}"
            )
    return "\n".join(out)


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, int) and isinstance(b, int):
        return f"{b - a:+d}"
    if isinstance(a, int | float) and isinstance(b, int | float):
        return f"{b - a:+.3f}"
    return ""


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _changed_steps(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    def steps(data: dict[str, Any]) -> dict[tuple[str, int], tuple[bool, bool]]:
        out: dict[tuple[str, int], list[tuple[bool, bool]]] = {}
        for s in data["scenarios"]:
            for step in s["steps"]:
                out.setdefault((s["id"], step["index"]), []).append((step["spoke"], step["passed"]))
        # With repeats: the majority outcome.
        return {
            k: (_majority([v[0] for v in vs]), _majority([v[1] for v in vs]))
            for k, vs in out.items()
        }

    sa, sb = steps(a), steps(b)
    lines = []
    for key in sorted(set(sa) & set(sb)):
        (spoke_a, ok_a), (spoke_b, ok_b) = sa[key], sb[key]
        if (spoke_a, ok_a) != (spoke_b, ok_b):
            said = lambda spoke: "spoke" if spoke else "silent"  # noqa: E731
            lines.append(
                f"  {key[0]} step {key[1] + 1}: {said(spoke_a)}, {'passed' if ok_a else 'failed'}"
                f" → {said(spoke_b)}, {'passed' if ok_b else 'failed'}"
            )
    return lines


def _majority(values: list[bool]) -> bool:
    return sum(values) * 2 >= len(values)


def _mean(values: Any) -> float:
    values = list(values)
    return round(statistics.fmean(values), 3) if values else 0.0


def _sha(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text else None
