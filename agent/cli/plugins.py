"""Commands from outside `agent/`, as plugins of `mlops-agent` (agent.cli).

A plugin is an entry point in the `mlops_agent.commands` group (`eval`: the harness in
`evals/`, see pyproject.toml). It names a function that adds its subcommand to the
parser (`register(subparsers)`) and returns what runs it: called with the words after
the command's name, it parses its own options and returns the exit status, or raises
`CliError` (a message and exit status 2). Kept apart from agent.cli so that a plugin
imports this small module, never the CLI itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The parser's subcommands, as a plugin's `register` gets them.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

COMMAND_GROUP = "mlops_agent.commands"
PluginRun = Callable[[list[str]], int]


class CliError(Exception):
    """Bad input or a missing piece: `mlops-agent <command>: <message>`, exit status 2."""


def plugin_commands(
    sub: Subparsers, commands: Iterable[EntryPoint] | None = None
) -> dict[str, PluginRun]:
    """Each plugin command added to `sub`, by name, after the built-in ones."""
    if commands is None:
        commands = entry_points(group=COMMAND_GROUP)
    found: dict[str, PluginRun] = {}
    for command in commands:
        try:
            register = command.load()
        except ImportError as exc:
            # The service image carries no eval harness: it runs from a checkout.
            sub.add_parser(command.name, add_help=False)
            found[command.name] = _unavailable(command, exc)
            continue
        found[command.name] = register(sub)
    return found


def _unavailable(command: EntryPoint, exc: ImportError) -> PluginRun:
    package = command.module.partition(".")[0]

    def run(_: list[str]) -> int:
        raise CliError(f"{command.name} needs a checkout of mlops-agent with {package}/ ({exc})")

    return run
