"""Several runs side by side: one row per run, and a difference called only when it is
significant.

Every run is compared with the first (the baseline, A). A judgment score is a
proportion (hits out of steps, checks, calls or scenario runs, pooled over repeats):
Fisher's exact test, two-sided. The judge's grades, seconds per turn and tokens per
scenario are samples: the Mann-Whitney U test, two-sided. The p-values of one
comparison (a run against A, overall; and again per suite) are Holm-corrected
together, and a difference is called at p < 0.05 after the correction; anything
else is reported as "no difference", however far apart the two numbers look.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from evals.judge import judge_grades
from evals.scoring import GATE, JUDGMENT
from evals.stats import ALPHA, fisher_exact, holm, mann_whitney
from evals.tables import SHORT, cell, grid, interval

FISHER = "Fisher's exact test, two-sided"
MANN_WHITNEY = "Mann-Whitney U test, two-sided"
SAMPLES = ("judge", "seconds_per_turn", "tokens_per_scenario")
LOWER_IS_BETTER = ("seconds_per_turn", "tokens_per_scenario")
# Which test marks which column of the table.
TESTED_BY = {
    **{k: k for k in JUDGMENT},
    "judge": "judge",
    "seconds_per_turn": "seconds_per_turn",
    "p50_s_per_turn": "seconds_per_turn",
    "p90_s_per_turn": "seconds_per_turn",
    "tokens_per_scenario": "tokens_per_scenario",
}
COLUMNS = (
    *JUDGMENT,
    "judge",
    "p50_s_per_turn",
    "p90_s_per_turn",
    "tokens_per_scenario",
    *GATE,
)


@dataclass(frozen=True)
class Test:
    key: str  # the score (or sample) tested
    test: str
    a: float | None
    b: float | None
    p: float | None  # None: nothing to test (a side without data, or too few samples)
    adjusted: float | None = None

    @property
    def significant(self) -> bool:
        return self.adjusted is not None and self.adjusted < ALPHA

    @property
    def better(self) -> bool:
        if self.a is None or self.b is None:
            return False
        return self.b < self.a if self.key in LOWER_IS_BETTER else self.b > self.a


def differences(a: dict[str, Any], b: dict[str, Any], suite: str | None = None) -> list[Test]:
    """Every score of runs `a` and `b` (overall, or in one suite), Holm-corrected together."""
    part_a, part_b = _part(a, suite), _part(b, suite)
    found = []
    for key in JUDGMENT:
        ka, na = part_a["counts"].get(key, [0, 0])
        kb, nb = part_b["counts"].get(key, [0, 0])
        p = fisher_exact(ka, na, kb, nb) if na and nb else None
        found.append(Test(key, FISHER, _ratio(ka, na), _ratio(kb, nb), p))
    for key in SAMPLES:
        xs, ys = part_a[key], part_b[key]
        p = mann_whitney(xs, ys)
        found.append(Test(key, MANN_WHITNEY, _mean(xs), _mean(ys), p))
    tested = [t for t in found if t.p is not None]
    adjusted = dict(zip((t.key for t in tested), holm([t.p or 1.0 for t in tested]), strict=True))
    return [
        Test(t.key, t.test, t.a, t.b, t.p, adjusted.get(t.key)) if t.p is not None else t
        for t in found
    ]


def compare(runs: list[tuple[str, dict[str, Any]]], fmt: str = "text") -> str:
    labels = [string.ascii_uppercase[i] if i < 26 else f"R{i + 1}" for i in range(len(runs))]
    baseline = runs[0][1]
    lines = ["runs (each compared with A)"]
    for label, (name, data) in zip(labels, runs, strict=True):
        done = "" if data.get("complete", True) else ", INCOMPLETE"
        lines.append(
            f"  {label}: {name} (model {data['model']}, brief {_brief(data)},"
            f" {len(_ids(data))} scenarios, repeat {data['repeat']}{done})"
        )
    lines += _warnings(labels, runs)
    pairs = [differences(baseline, data) for _, data in runs[1:]]
    head = ["run", "model", "brief", "rep", *(SHORT[k] for k in COLUMNS)]
    body = []
    for i, (label, (_, data)) in enumerate(zip(labels, runs, strict=True)):
        marks = {} if i == 0 else {t.key: t for t in pairs[i - 1]}
        row = [label, data["model"], _brief(data), str(data["repeat"])]
        row += [_marked(data["scores"].get(k), k, marks.get(TESTED_BY.get(k, ""))) for k in COLUMNS]
        body.append(row)
    lines += [
        "",
        "scores (▲/▼: better/worse than A, significant; see below)",
        grid(head, body, fmt, left=3),
    ]
    bounds = [
        [label, *(interval(data["intervals"].get(k)) for k in JUDGMENT)]
        for label, (_, data) in zip(labels, runs, strict=True)
    ]
    lines += [
        "",
        "95% intervals (Wilson)",
        grid(["run", *(SHORT[k] for k in JUDGMENT)], bounds, fmt),
    ]
    lines += [
        "",
        f"differences from A ({FISHER} for scores; {MANN_WHITNEY} for the judge,"
        f" seconds per turn and tokens per scenario; Holm-corrected, p < {ALPHA})",
    ]
    for label, found in zip(labels[1:], pairs, strict=True):
        lines += _differences(label, found, fmt)
    suites = sorted(set.intersection(*(set(d["suites"]) for _, d in runs)))
    if suites:
        lines += ["", "per suite (▲/▼ against A in the same suite)"]
        suite_rows = []
        for tag in suites:
            for i, (label, (_, data)) in enumerate(zip(labels, runs, strict=True)):
                marks = {} if i == 0 else {t.key: t for t in differences(baseline, data, tag)}
                scores = data["suites"][tag]["scores"]
                suite_rows.append(
                    [tag, label, *(_marked(scores.get(k), k, marks.get(k)) for k in JUDGMENT)]
                )
        lines.append(grid(["suite", "run", *(SHORT[k] for k in JUDGMENT)], suite_rows, fmt, 2))
    if len(runs) == 2:
        changed = _changed_steps(baseline, runs[1][1])
        lines += ["", "steps that changed" if changed else "no step changed its outcome"]
        lines += changed
    return "\n".join(lines)


def _differences(label: str, found: list[Test], fmt: str) -> list[str]:
    bullet = "- " if fmt == "markdown" else "  "
    lines = []
    same = []
    for t in found:
        if t.significant:
            lines.append(
                f"{bullet}{label}: {SHORT[t.key]} {cell(t.a, t.key)} → {cell(t.b, t.key)}"
                f" ({'better' if t.better else 'worse'}; {t.test}, p = {t.p:.3g},"
                f" Holm-corrected {t.adjusted:.3g})"
            )
        elif t.p is not None:
            same.append(SHORT[t.key])
    untested = [SHORT[t.key] for t in found if t.p is None]
    if same:
        lines.append(f"{bullet}{label}: no difference in {', '.join(same)}")
    if untested:
        lines.append(
            f"{bullet}{label}: not tested (no data, or under 3 samples): {', '.join(untested)}"
        )
    return lines


def _marked(value: Any, key: str, test: Test | None) -> str:
    text = cell(value, key)
    if test is None or not test.significant:
        return text
    return text + (" ▲" if test.better else " ▼")


def _part(data: dict[str, Any], suite: str | None) -> dict[str, Any]:
    """Counts and samples of a run (or of one suite of it), read from the file itself."""
    chosen = [s for s in data["scenarios"] if suite is None or suite in s["tags"]]
    counts = data["counts"] if suite is None else data["suites"][suite]["counts"]
    seconds, tokens = [], []
    for s in chosen:
        used = []
        for step in s["steps"]:
            for turn in step["transcript"]:
                if isinstance(turn.get("seconds"), int | float):
                    seconds.append(float(turn["seconds"]))
                used += [
                    n for n in (turn.get("prompt_tokens"), turn.get("completion_tokens"))
                    if isinstance(n, int)
                ]  # fmt: skip
        if used:
            tokens.append(float(sum(used)))
    return {
        "counts": counts,
        "judge": judge_grades(chosen),
        "seconds_per_turn": seconds,
        "tokens_per_scenario": tokens,
    }


def _warnings(labels: list[str], runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    out = []
    a = runs[0][1]
    for label, (_, data) in zip(labels[1:], runs[1:], strict=True):
        if data.get("brief_sha256") != a.get("brief_sha256"):
            out.append(
                f"  {label}: the system prompt differs from A's (a brief edit or another brief)"
            )
        only_a, only_b = _ids(a) - _ids(data), _ids(data) - _ids(a)
        if only_a or only_b:
            out.append(
                f"  {label}: covers different scenarios ({len(only_a)} in A only,"
                f" {len(only_b)} in {label} only): overall scores are not like for like;"
                " read the suites both ran"
            )
    return out


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


def _ids(data: dict[str, Any]) -> set[str]:
    return {s["id"] for s in data["scenarios"]}


def _brief(data: dict[str, Any]) -> str:
    sha = data.get("brief_sha256")
    return sha[:8] if sha else "–"


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
