"""`mlops-agent eval`: the harness's subcommand, added to the CLI through the
`mlops_agent.commands` entry point (pyproject.toml), so that `agent/` never imports
`evals/`. Light on purpose: every `mlops-agent` start loads it; the harness itself
(`evals.cli`) is imported only when `eval` runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.cli.plugins import CliError

if TYPE_CHECKING:
    from agent.cli.plugins import PluginRun, Subparsers


def register(commands: Subparsers) -> PluginRun:
    # Its options are the harness's own (`evals.cli.parser`): it parses them, help included.
    commands.add_parser(
        "eval",
        help="evaluate a model and the brief on scenario suites (mlops-agent eval --help)",
        add_help=False,
    )
    return run


def run(argv: list[str]) -> int:
    try:
        from evals.cli import main
    except ModuleNotFoundError as exc:
        # The service image carries no eval harness: it runs from a checkout.
        raise CliError(f"eval needs a checkout of mlops-agent with evals/ ({exc})") from None
    return main(argv)
