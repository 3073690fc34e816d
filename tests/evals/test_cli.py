"""`mlops-agent eval` at the boundary: what is missing, bad input, comparing two runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import cli
from evals.records import ScenarioRecord, StepRecord, TurnRecord
from evals.report import results, write
from evals.scenario import Expect


def test_nothing_configured_and_no_embedded_model_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here, and no .models
    assert cli.main(["eval"]) == 2
    err = capsys.readouterr().err
    assert "mlops-agent eval: no model to evaluate." in err
    assert "Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) is not installed in .models" in err
    assert "python -m agent.model install embedded" in err
    assert "mlops-agent eval --base-url http://HOST:PORT/v1 --model MODEL" in err
    assert "MLOPS_MODEL_BASE_URL and MLOPS_MODEL" in err


def test_an_unknown_model_without_an_endpoint_names_the_missing_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["eval", "--model", "qwen2.5:32b"]) == 2
    assert "Missing: --base-url" in capsys.readouterr().err


def test_half_configured_names_the_missing_half(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    assert cli.main(["eval"]) == 2
    assert "Missing: --model" in capsys.readouterr().err


def test_bad_options_are_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "--repeat", "0"])
    assert exit_.value.code == 2
    assert "--repeat: '0': a whole number >= 1" in capsys.readouterr().err
    code = cli.main(["eval", "--base-url", "gpu-box:8000", "--model", "m", "--suite", "notify"])
    assert code == 2
    assert "must be an http:// or https:// URL" in capsys.readouterr().err


def test_list_shows_the_suites_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", "--list", "--suite", "overnight"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all("overnight" in line for line in out)
    assert any(line.startswith("morning-digest ") for line in out)


def test_other_commands_still_refuse_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["doctor", "--base-url", "x"])
    assert "unrecognized arguments: --base-url x" in capsys.readouterr().err


def one_run(spoke: bool, brief: str) -> dict[str, object]:
    record = ScenarioRecord("noise-wobble", "t", ["notify"], 1, "e1")
    step = StepRecord(0, "event", 0.0, Expect(speak=False), None)
    step.turns.append(
        TurnRecord("t", "job:x", "event", "posted" if spoke else "silent", "ok", 1.0, [], [])
    )
    record.steps.append(step)
    return results(
        [record],
        model="m",
        base_url="http://x/v1",
        brief_dir=Path(brief),
        system_prompt=brief,
        tools_offered=[],
        repeat=1,
        concurrency=1,
        startup_s=1.0,
    )


def test_compare_shows_what_changed_between_two_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write(a, one_run(False, "brief"))
    write(b, one_run(True, "edited-brief"))
    assert cli.main(["eval", "--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "the system prompt differs from A's" in out
    assert "scenarios_passed" not in out and "passed" in out
    assert "noise-wobble step 1: silent, passed → spoke, failed" in out


def test_compare_refuses_files_that_are_not_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"scores": {}}')
    assert cli.main(["eval", "--compare", str(other), str(tmp_path / "missing.json")]) == 2
    assert "not a results file of `mlops-agent eval --output`" in capsys.readouterr().err


def test_a_sites_own_scenarios_beside_or_instead_of_the_shipped_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "our-quiet-epoch.yaml").write_text(
        "title: ours\ntags: [notify, easy]\ntimeline:\n"
        "  - event: {type: epoch, job: team/a, epoch: 3}\n    expect: {speak: false}\n"
    )
    assert cli.main(["eval", "--list", "--scenarios", str(ours)]) == 0
    instead = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in instead] == ["our-quiet-epoch"]
    assert cli.main(["eval", "--list", "--scenarios", "shipped", "--scenarios", str(ours)]) == 0
    beside = capsys.readouterr().out.splitlines()
    assert len(beside) > 30 and beside[-1].startswith("our-quiet-epoch ")
    (ours / "noise-wobble.yaml").write_text((ours / "our-quiet-epoch.yaml").read_text())
    assert cli.main(["eval", "--list", "--scenarios", "shipped", "--scenarios", str(ours)]) == 2
    err = capsys.readouterr().err
    assert "noise-wobble.yaml: scenario id 'noise-wobble' is also" in err
