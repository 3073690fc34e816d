"""Statistics and the many-run table: intervals, tests that call a difference only when
it is significant, the results file's schema, --format markdown and --fail-under."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent import cli
from evals.bridge import Post
from evals.compare import compare, differences
from evals.proxy import ModelCall
from evals.records import Place, ScenarioRecord, StepRecord, TurnRecord
from evals.report import FORMAT, ResultsFile, read, results, write
from evals.scenario import Expect
from evals.stats import fisher_exact, holm, mann_whitney, percentile, wilson
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "evals/schema.json").read_text())


# -- the statistics, on textbook values ------------------------------------------------


def test_wilson_interval() -> None:
    low, high = wilson(45, 50) or (0, 0)
    assert (round(low, 3), round(high, 3)) == (0.786, 0.957)
    assert wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson(0, 0) is None


def test_fisher_exact_two_sided() -> None:
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(0.4857, abs=1e-4)  # the lady tasting tea
    assert fisher_exact(8, 10, 1, 6) == pytest.approx(0.03497, abs=1e-5)
    assert fisher_exact(5, 10, 5, 10) == pytest.approx(1.0)


def test_mann_whitney_and_holm() -> None:
    assert mann_whitney([1, 2, 3, 4, 5, 6], [4, 5, 6, 7, 8, 9, 9]) == pytest.approx(
        0.02154, abs=1e-5
    )
    assert mann_whitney([1, 2], [3, 4, 5]) is None  # too few to say anything
    assert mann_whitney([2, 2, 2], [2, 2, 2]) == 1.0
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([], 90) is None


# -- runs of known behaviour ----------------------------------------------------------


def run_of(seed: int, right: float, *, scenarios: int = 40, repeat: int = 1) -> dict[str, Any]:
    """Scenario runs of three steps, each step right with probability `right`: speaking
    when it should, with the number it should name; turns of 1-3 s, about 2,000 tokens."""
    rng = random.Random(seed)
    records = []
    for n in range(1, repeat + 1):
        for i in range(scenarios):
            record = ScenarioRecord(f"s{i:02d}", "t", ["notify" if i % 2 else "diagnose"], n, "e1")
            for index in range(3):
                speak = index != 1
                good = rng.random() < right
                spoke = speak == good
                expect = Expect(speak=speak, **({"numbers": [12]} if speak else {}))
                step = StepRecord(index, "event", 0.0, expect, Place("C", None))
                tokens = rng.randint(1800, 2200)
                call = ModelCall("t", "job:x", None, [], prompt_tokens=tokens, completion_tokens=20)
                outcome = "posted" if spoke else "silent"
                step.turns.append(
                    TurnRecord("t", "job:x", "event", outcome, "ok", rng.uniform(1, 3), [call], [])
                )
                if spoke:
                    text = "Crashed at epoch 12" if good else "Crashed at epoch 13"
                    step.posts.append(Post("post", "C", f"1.{i}{index}", text))
                record.steps.append(step)
            records.append(record)
    return results(
        records,
        model=f"model-{seed}",
        base_url="http://x/v1",
        brief_dir=Path("brief"),
        system_prompt="the brief",
        tools_offered=[],
        repeat=repeat,
        concurrency=1,
        startup_s=1.0,
    )


def test_results_follow_the_schema_while_running_and_at_the_end(tmp_path: Path) -> None:
    data = run_of(1, 0.9, scenarios=6, repeat=2)
    assert data["format"] == FORMAT == SCHEMA["properties"]["format"]["const"]
    jsonschema.validate(data, SCHEMA)
    partial = ResultsFile(tmp_path / "r.json", _meta)
    record = ScenarioRecord("s", "t", ["notify"], 1, "e1")
    record.steps.append(StepRecord(0, "tick", 0.0, Expect(speak=False), None))
    partial.add(record)
    jsonschema.validate(read(tmp_path / "r.json"), SCHEMA)
    broken = {**data, "scores": {**data["scores"], "precision": 1.5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_repeats_carry_wilson_intervals_over_the_pooled_counts() -> None:
    data = run_of(3, 0.8, scenarios=20, repeat=3)
    hits, total = data["counts"]["recall"]
    assert total == 20 * 2 * 3  # two speaking steps per scenario run, three repeats
    low, high = data["intervals"]["recall"]
    assert low < data["scores"]["recall"] < high and high - low < 0.2
    assert data["spread"]["recall"] is not None


def test_runs_that_differ_only_by_noise_show_no_difference() -> None:
    a, b = run_of(100, 0.85), run_of(200, 0.85)
    assert not [t.key for t in differences(a, b) if t.significant]
    text = compare([("a.json", a), ("b.json", b)])
    cells = "\n".join(line for line in text.splitlines() if "▲/▼" not in line)
    assert "▲" not in cells and "▼" not in cells
    assert "B: no difference in precision, recall, content, style, thread, passed" in text


def test_noise_is_called_a_difference_in_at_most_one_comparison_in_ten() -> None:
    """Holm keeps the chance of any false call in a comparison under 5 %: over 40 pairs
    of runs of the same agent, a difference in any score shows up rarely."""
    called = 0
    for seed in range(40):
        found = differences(run_of(300 + seed, 0.85), run_of(400 + seed, 0.85))
        called += any(t.significant for t in found)
    assert called <= 4, called


def test_a_real_difference_is_called_with_its_test() -> None:
    good, bad = run_of(1, 0.95), run_of(2, 0.5)
    by_key = {t.key: t for t in differences(good, bad)}
    assert by_key["recall"].significant and not by_key["recall"].better
    assert by_key["recall"].test == "Fisher's exact test, two-sided"
    assert not by_key["seconds_per_turn"].significant  # the same speed, by construction
    text = compare([("good.json", good), ("bad.json", bad)])
    assert "B: recall 0.95 → 0.5" not in text  # numbers as cells show them
    assert "worse; Fisher's exact test, two-sided, p = " in text
    assert "Holm-corrected" in text


def test_many_runs_one_table_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for seed, right in ((1, 0.95), (2, 0.9), (3, 0.5)):
        path = tmp_path / f"run{seed}.json"
        write(path, run_of(seed, right))
        paths.append(str(path))
    assert cli.main(["eval", "--compare", *paths, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    header = table[0]
    for column in (
        "run",
        "model",
        "brief",
        "rep",
        "precision",
        "judge",
        "p50 s",
        "p90 s",
        "tok/scen",
    ):
        assert f" {column} |" in header
    rows = [line for line in table if line.startswith(("| A ", "| B ", "| C "))]
    assert [r.split("|")[2].strip() for r in rows[:3]] == ["model-1", "model-2", "model-3"]
    assert "▼" in rows[2] and "▼" not in rows[1]  # C is worse than A; B is noise
    assert "|---|---|---|---:|" in out


def test_fail_under_exits_1_below_and_0_above(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    write(path, run_of(2, 0.5))
    passed = read(path)["scores"]["scenarios_passed"]
    assert cli.main(["eval", "--compare", str(path), "--fail-under", "passed=0.8"]) == 1
    assert (
        f"FAILED: scenarios_passed {passed:.3f} is under --fail-under 0.8"
        in capsys.readouterr().err
    )
    assert cli.main(["eval", "--compare", str(path), "--fail-under", f"passed={passed}"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as bad:
        cli.main(["eval", "--compare", str(path), "--fail-under", "pass=0.8"])
    assert bad.value.code == 2
    assert "'pass=0.8': SCORE=MIN with MIN from 0 to 1" in capsys.readouterr().err


def test_an_older_results_file_is_refused_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": 1, "scores": {}}))
    assert cli.main(["eval", "--compare", str(old), str(old)]) == 2
    assert "results format 1, this version reads format 2" in capsys.readouterr().err


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
