"""The example script in examples/ works as its docstring says."""

from __future__ import annotations

from tests.reporter.conftest import run_script, script_env


def example(*args: str) -> str:
    return (
        "import runpy, sys\n"
        f"sys.argv = ['train_minimal.py', *{list(args)!r}]\n"
        "runpy.run_path('examples/train_minimal.py', run_name='__main__')\n"
    )


def test_the_minimal_example_reports_a_run(receiver, secret, spool_dir):
    result = run_script(example(), script_env(receiver, secret, spool_dir, MLOPS_JOB="demo"))
    assert result.returncode == 0, result.stderr
    events = receiver.events()
    assert [e["type"] for e in events] == ["started", "epoch", "epoch", "epoch", "finished"]
    assert {e["job"] for e in events} == {"demo"}


def test_the_minimal_example_reports_its_crash(receiver, secret, spool_dir):
    env = script_env(receiver, secret, spool_dir, MLOPS_JOB="demo")
    result = run_script(example("--fail-at", "2"), env)
    assert result.returncode == 1
    assert "FloatingPointError: loss became nan" in result.stderr
    assert [e["type"] for e in receiver.events()] == ["started", "epoch", "crashed"]
    assert receiver.events()[-1]["exception"] == "FloatingPointError"
