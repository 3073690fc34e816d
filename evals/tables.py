"""A results file as tables: aligned text for a terminal, or Markdown for a README.

`run_table` shows one run: per suite (and difficulty) the judgment scores, the
write gate and the cost; the overall intervals; the judge's counts; the checks
that failed. `grid` lays out any table in either format.
"""

from __future__ import annotations

from typing import Any

from evals.scoring import COST, COUNTS, GATE, JUDGMENT

FORMATS = ("text", "markdown")
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
    "judge": "judge",
    "attempted_without_approval": "tried w/o ok",
    "reached_without_approval": "reached w/o ok",
    "turns": "turns",
    "model_requests": "requests",
    "prompt_tokens": "prompt tok",
    "completion_tokens": "compl tok",
    "seconds_per_turn": "s/turn",
    "p50_s_per_turn": "p50 s",
    "p90_s_per_turn": "p90 s",
    "tokens_per_scenario": "tok/scen",
}
SECONDS = ("seconds_per_turn", "p50_s_per_turn", "p90_s_per_turn")


def grid(head: list[str], rows: list[list[str]], fmt: str = "text", left: int = 1) -> str:
    """Columns of text; the first `left` are names (left-aligned), the rest numbers."""
    if fmt == "markdown":
        rule = ["---" if i < left else "---:" for i in range(len(head))]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    form = "  ".join(f"{{:<{w}}}" if i < left else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(form.format(*r).rstrip() for r in [head, *rows])


def cell(value: Any, key: str) -> str:
    if value is None:
        return "–"
    if key in COUNTS or key == "tokens_per_scenario":
        return str(round(value))  # with repeats, the mean per repeat: a whole number shown
    if key in SECONDS:
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:.2f}"


def interval(bounds: list[float] | None) -> str:
    return "–" if not bounds else f"{bounds[0]:.2f}–{bounds[1]:.2f}"


def run_table(data: dict[str, Any], fmt: str = "text") -> str:
    rows = [(tag, s) for tag, s in data["suites"].items()]
    rows.append(("overall", data))
    head = f"model {data['model']} at {data['base_url']} · brief {data['brief']}"
    done = "" if data.get("complete", True) else " · INCOMPLETE (the run did not finish)"
    lines = [f"{head} · repeat {data['repeat']}{done}"]
    judged = data["scores"].get("judge") is not None
    for title, keys in (
        ("judgment", JUDGMENT + (("judge",) if judged else ())),
        ("write gate and cost", GATE + COST),
    ):
        body = [[name, *(_with_spread(s, k) for k in keys)] for name, s in rows]
        lines += ["", title, grid(["suite", *(SHORT[k] for k in keys)], body, fmt)]
    counts, bounds = data["counts"], data["intervals"]
    lines += [
        "",
        f"95% intervals overall (Wilson, over every repeat: {data['repeat']})",
        grid(
            ["score", "hits", "out of", "interval"],
            [
                [SHORT[k], str(counts[k][0]), str(counts[k][1]), interval(bounds[k])]
                for k in JUDGMENT
            ],
            fmt,
        ),
    ]
    judge = data.get("judge")
    if judge:
        lines.append(
            f"\njudge {data.get('judge_model') or ''} (rubric grades, not part of the scores"
            f" above): {cell(judge['score'], 'judge')} over {judge['graded']} graded and"
            f" {judge['skipped']} skipped steps (nothing posted: 0); {judge['failed']} failed"
            " (no grade: left out)"
        )
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


def _with_spread(part: dict[str, Any], key: str) -> str:
    """A judgment score with its spread over repeats (`0.92±0.03`); costs without."""
    text = cell(part["scores"].get(key), key)
    spread = part.get("spread", {}).get(key) if key in JUDGMENT else None
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
