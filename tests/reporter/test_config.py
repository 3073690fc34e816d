"""Unconfigured or misconfigured reporting never breaks training: it says once, on stderr,
what is missing and what would be valid, and does nothing else."""

from __future__ import annotations

import json
import logging

import pytest

from mlops_reporter import Reporter
from mlops_reporter.config import load_config
from tests.reporter.conftest import run_script


def test_without_url_or_secret_every_call_is_a_silent_no_op(tmp_path):
    reporter = Reporter(job="x", spool_dir=tmp_path)
    assert not reporter.enabled
    with pytest.raises(KeyError), reporter.run():
        reporter.epoch(1, metrics={"loss": 1.0})
        reporter.crashed(RuntimeError("still nothing"))
        raise KeyError("the training's own error still propagates")
    assert reporter.flush(0.1) and reporter.close()
    assert list(tmp_path.iterdir()) == []  # no spool, nothing written


def test_the_missing_setting_is_named_once_on_stderr(tmp_path):
    result = run_script(
        "from mlops_reporter import Reporter\n"
        "a = Reporter(job='x'); b = Reporter(job='y')\n"
        "a.started(); b.epoch(1)\n"
        "print('training finished')\n",
        {"MLOPS_SPOOL_DIR": str(tmp_path)},
    )
    assert result.returncode == 0
    assert result.stdout == "training finished\n"
    assert result.stderr.count("MLOPS_URL is not set") == 1
    assert "http://mlops-agent:8080" in result.stderr  # says what would be valid
    assert result.stderr.count("MLOPS_WEBHOOK_SECRET is not set") == 1


@pytest.mark.parametrize(
    ("url", "secret", "named"),
    [
        ("ftp://agent", "whsec_" + "A" * 32, "is not an http(s) URL"),
        ("http://agent:8080", "not-base64!!", "not a valid Standard Webhooks secret"),
    ],
)
def test_a_bad_url_or_secret_turns_reporting_off(url, secret, named, caplog):
    with caplog.at_level(logging.WARNING, logger="mlops_reporter"):
        reporter = Reporter(job=f"bad-{named}", url=url, secret=secret)
    assert not reporter.enabled
    assert named in caplog.text


def test_bad_labels_or_attempt_are_left_out_and_named(monkeypatch):
    monkeypatch.setenv("MLOPS_LABELS", "{team: vision}")
    monkeypatch.setenv("MLOPS_ATTEMPT", "second")
    config = load_config("j", "http://a:1", "whsec_" + "A" * 32, None, None, None)
    assert config.enabled
    assert config.labels == {}
    assert config.attempt is None
    assert any("MLOPS_LABELS" in p and "JSON object" in p for p in config.problems)
    assert any("MLOPS_ATTEMPT" in p for p in config.problems)


def test_arguments_win_over_environment_and_url_gets_the_hook_path(monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_JOB", "from-env")
    monkeypatch.setenv("MLOPS_URL", "http://env-agent:1")
    monkeypatch.setenv("MLOPS_SPOOL_DIR", str(tmp_path / "env-spool"))
    config = load_config(
        "from-arg", "http://arg-agent:8080/", "whsec_" + "A" * 32, 4, {"a": 1}, None
    )
    assert (config.job, config.endpoint) == ("from-arg", "http://arg-agent:8080/hooks/training")
    assert (config.attempt, config.labels) == (4, {"a": 1})
    assert config.spool_dir == tmp_path / "env-spool"


def test_the_default_spool_is_under_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config("j", None, None, None, None, None)
    assert config.spool_dir == tmp_path / ".cache/mlops-agent/spool"


def test_importing_and_using_the_reporter_pulls_in_no_service_dependency(tmp_path):
    result = run_script(
        "import json, sys\n"
        "from mlops_reporter import Reporter, report\n"
        "r = Reporter(job='iso', url='http://127.0.0.1:9', secret='whsec_' + 'A' * 32)\n"
        "r.epoch(1, metrics={'loss': 1.0}); r.flush(2)\n"
        "heavy = ['slack_bolt', 'slack_sdk', 'starlette', 'uvicorn', 'mlflow', 'pydantic',\n"
        "         'httpx', 'aiosqlite', 'mcp', 'torch', 'lightning', 'transformers', 'agent']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n",
        {"MLOPS_SPOOL_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_an_unwritable_spool_folder_costs_the_events_not_the_training(
    down_receiver, make_reporter, tmp_path, caplog
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    reporter = make_reporter(down_receiver, spool_dir=blocker / "spool")
    with caplog.at_level(logging.WARNING, logger="mlops_reporter"):
        reporter.started()
        reporter.epoch(1)
        assert reporter.flush(5)
        reporter.close(1)  # must not raise either
    assert "cannot write spool" in caplog.text
