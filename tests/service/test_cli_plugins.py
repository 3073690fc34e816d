"""Commands from outside agent/ reach `mlops-agent` as entry points (agent.cli.plugins).

The entry points are passed in here, not read from the installed metadata: these tests
hold whatever the shared environment's install says. `test_pyproject_declares_eval`
checks the declaration that an install turns into metadata.
"""

from __future__ import annotations

import argparse
import tomllib
from importlib.metadata import EntryPoint

import pytest

from agent import cli
from agent.cli.plugins import COMMAND_GROUP, CliError, PluginRun
from tests.conftest import ROOT

EVAL = EntryPoint("eval", "evals.command:register", COMMAND_GROUP)
HELLO = EntryPoint("hello", "tests.service.test_cli_plugins:register_hello", COMMAND_GROUP)
HEARD: list[list[str]] = []


def register_hello(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> PluginRun:
    """A throwaway plugin command: records its words; `--refuse` is bad input."""
    commands.add_parser("hello", help="say hello", add_help=False)

    def run(argv: list[str]) -> int:
        if "--refuse" in argv:
            raise CliError("refused, as asked")
        HEARD.append(argv)
        return 3

    return run


def test_a_plugin_command_gets_its_own_words_and_gives_the_exit_status() -> None:
    HEARD.clear()
    assert cli.main(["hello", "--loud", "x"], commands=[HELLO]) == 3
    assert HEARD == [["--loud", "x"]]


def test_a_plugin_commands_error_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["hello", "--refuse"], commands=[HELLO]) == 2
    assert capsys.readouterr().err == "mlops-agent hello: refused, as asked\n"


def test_plugins_are_listed_after_the_built_in_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"], commands=[HELLO, EVAL])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # as one line, however argparse wraps it
    assert "{serve,emit,submit,doctor,audit,web-user,hello,eval}" in out
    assert "eval evaluate a model and the brief on scenario suites (mlops-agent eval --help)" in out


def test_without_the_plugin_the_command_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["hello"], commands=[])
    assert exit_.value.code == 2
    assert "invalid choice: 'hello'" in capsys.readouterr().err


def test_a_plugin_whose_package_is_missing_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    gone = EntryPoint("report", "no_such_package.command:register", COMMAND_GROUP)
    assert cli.main(["report", "--x"], commands=[gone]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops-agent report: report needs a checkout of mlops-agent with ")
    assert "no_such_package/ (No module named 'no_such_package')" in err


def test_built_in_commands_still_refuse_unknown_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["doctor", "--loud"], commands=[HELLO])
    assert "unrecognized arguments: --loud" in capsys.readouterr().err


def test_eval_through_its_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", "--list", "--suite", "overnight"], commands=[EVAL]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("morning-digest ") for line in out)


def test_pyproject_declares_eval() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"][COMMAND_GROUP]
    assert declared == {"eval": EVAL.value}
    from evals.command import register

    assert EVAL.load() is register


def test_agent_does_not_import_evals() -> None:
    import ast

    for path in (ROOT / "agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "evals" or n.startswith("evals.") for n in names), path
