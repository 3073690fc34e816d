"""`mlops-agent submit` as a person runs it: the real command, the real aiqu submit entry, the
local scheduler's own store. (End to end with the service: tests/e2e/test_watch.py.)"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


def run(state_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "submit", *args],
        capture_output=True,
        text=True,
        cwd=state_dir.parent,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "MLOPS_STATE_DIR": str(state_dir),
            "MLOPS_LOCAL_GPUS": "2",
            **env,
        },
        timeout=60,
        check=False,
    )


def jobs(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "aiqu" / "local.sqlite"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY id")]
    finally:
        conn.close()


def test_a_job_is_queued_with_its_name_gpus_limit_owner_and_the_submitters_environment(
    state_dir: Path,
) -> None:
    done = run(
        state_dir,
        "--name", "customer-a/weld-defect-v4", "--gpus", "2", "--time-limit", "120",
        "--owner", "U0ANN", "--", "python", "train.py", "--epochs", "60",
        MY_SETTING="kept", SLACK_BOT_TOKEN="xoxb-never", MLOPS_URL="http://elsewhere",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "queued job 1: customer-a/weld-defect-v4, attempt 1"
    assert "the service is not running" in done.stdout
    (job,) = jobs(state_dir)
    spec = json.loads(job["spec"])
    assert (job["name"], job["attempt"], job["state"], job["gpus"]) == (
        "customer-a/weld-defect-v4", 1, "pending", 2,
    )  # fmt: skip
    assert spec["command"] == ["python", "train.py", "--epochs", "60"]
    assert (spec["time_limit_min"], spec["labels"]) == (120, {"submitted_by": "U0ANN"})
    assert spec["workdir"] == str(state_dir.parent.resolve())
    assert spec["env"]["MY_SETTING"] == "kept"
    assert not [k for k in spec["env"] if k.startswith(("MLOPS_", "SLACK_"))]


def test_a_second_run_of_a_name_is_its_next_attempt_and_the_name_defaults_to_the_script(
    state_dir: Path,
) -> None:
    first = run(state_dir, "--", "python", "examples/train_minimal.py")
    again = run(state_dir, "--", "python", "examples/train_minimal.py", "--epochs", "9")

    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert [(j["name"], j["attempt"]) for j in jobs(state_dir)] == [
        ("train_minimal", 1),
        ("train_minimal", 2),
    ]


def test_bad_input_is_a_clear_error_and_queues_nothing(state_dir: Path) -> None:
    cases = {
        ("--gpus", "3", "--", "python", "t.py"): "job asks for 3 GPU(s); this machine has 2",
        ("--gpus", "1"): "no command to run",
        ("--gpu", "1", "--", "python", "t.py"): "unrecognized arguments: --gpu",
        ("--name", "a b", "--", "python", "t.py"): "invalid job name 'a b'",
        ("--time-limit", "0", "--", "x"): "--time-limit must be a whole number of minutes > 0",
    }
    for args, message in cases.items():
        done = run(state_dir, *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert jobs(state_dir) == []


@pytest.mark.parametrize(("scheduler", "tool"), [("slurm", "sbatch"), ("ray", "ray job submit")])
def test_a_cluster_scheduler_is_refused_with_what_to_use_instead(
    scheduler: str, tool: str, state_dir: Path
) -> None:
    done = run(state_dir, "--", "python", "t.py", MLOPS_SCHEDULER=scheduler)

    assert done.returncode == 2 and f"submit with the cluster's own tool ({tool})" in done.stderr
    assert jobs(state_dir) == []
