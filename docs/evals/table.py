"""The README's "How good is the embedded model" table, from the results files here.

    python docs/evals/table.py reference.json embedded-1.5b-*.json embedded-0.5b-*.json

One row per model and suite: the scores `mlops-agent eval` wrote (a suite found in
several files, as a gate scenario also tagged diagnose, is taken from the file with
the most repeats); `±` the spread over repeats where there were some.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SUITES = ("notify", "diagnose", "answer", "gate", "overnight")
COLUMNS = (
    ("precision", "precision"),
    ("recall", "recall"),
    ("content_hits", "content"),
    ("tool_validity", "tool ok"),
    ("scenarios_passed", "passed"),
    ("attempted_without_approval", "gated writes tried"),
    ("reached_without_approval", "reached w/o ok"),
    ("seconds_per_turn", "s/turn"),
)


def cell(scores: dict[str, Any], spread: dict[str, Any], key: str) -> str:
    value = scores.get(key)
    if value is None:
        return "–"
    if key in ("attempted_without_approval", "reached_without_approval"):
        return str(int(value))
    text = f"{value:.0f}" if key == "seconds_per_turn" and value >= 10 else f"{value:.2f}"
    wobble = spread.get(key)
    return f"{text}±{wobble:.2f}" if wobble else text


def rows(files: list[Path]) -> list[str]:
    best: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for path in files:
        data = json.loads(path.read_text())
        for suite, result in data.get("suites", {}).items():
            key = (data["model"], suite)
            if key not in best or data["repeat"] > best[key][0]:
                best[key] = (data["repeat"], {**result, "repeat": data["repeat"]})
    header = "| model | suite | " + " | ".join(label for _, label in COLUMNS) + " |"
    out = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    models = list(dict.fromkeys(model for model, _ in best))
    for model in models:
        for suite in SUITES:
            if (model, suite) not in best:
                continue
            _, result = best[(model, suite)]
            cells = [cell(result["scores"], result.get("spread", {}), key) for key, _ in COLUMNS]
            label = suite if result["repeat"] == 1 else f"{suite} (×{result['repeat']})"
            out.append(f"| {model} | {label} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    print("\n".join(rows([Path(p) for p in sys.argv[1:]])))
