"""A tool is declared once: a plain function over the skill, registered as it is written.

A tool function takes the skill's injected client first, then the parameters
the model passes, each with its `Annotated` type; its docstring is what the
model reads. `register` publishes it without that first parameter, calls it
with the skill bound, and turns the skill's own exceptions into a `ToolError`
(the model gets `is_error` and the message; any other exception reaches it
only as "Error executing tool"). So a server module is a list of functions:

    register(server, skill, Tools(read_only=[jobs.get_job], write=[...]), errors=ERRORS)
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
# Changes something that can be undone or is only a proposal (submit, requeue, propose).
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
# Stops or overwrites what is not the agent's to restore (cancel, prune, commit and push).
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)

ToolFunction = Callable[..., Any]


@dataclass(frozen=True)
class Tools:
    """A skill's tool functions, by what calling them does."""

    read_only: Sequence[ToolFunction] = ()
    write: Sequence[ToolFunction] = ()
    destructive: Sequence[ToolFunction] = ()

    def annotated(self) -> list[tuple[ToolFunction, ToolAnnotations]]:
        return [
            *((fn, READ_ONLY) for fn in self.read_only),
            *((fn, WRITE) for fn in self.write),
            *((fn, DESTRUCTIVE) for fn in self.destructive),
        ]


def register(
    server: MCPServer,
    skill: object,
    tools: Tools,
    *,
    errors: tuple[type[Exception], ...],
    describe: Callable[[Exception], str] = str,
) -> None:
    """Add every tool to `server`, bound to `skill`; `errors` become tool errors worded by
    `describe` (the exception's own message unless a skill says otherwise)."""
    for fn, kind in tools.annotated():
        description = inspect.cleandoc(fn.__doc__ or "")
        if not description:
            raise TypeError(f"tool {fn.__name__} has no docstring, so no description for the model")
        server.add_tool(
            bound(fn, skill, errors, describe), description=description, annotations=kind
        )


def bound(
    fn: ToolFunction,
    skill: object,
    errors: tuple[type[Exception], ...],
    describe: Callable[[Exception], str] = str,
) -> ToolFunction:
    """`fn` with `skill` as its first argument, published without it.

    The MCP SDK reads a tool's parameters from `inspect.signature` and its context
    parameter from `typing.get_type_hints`, so both are set here, resolved (the tool
    modules use `from __future__ import annotations`, whose strings name things only
    the tool's own module can resolve)."""
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    _, *parameters = signature.parameters.values()
    published = [p.replace(annotation=hints[p.name]) for p in parameters]
    returns = hints["return"]

    def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(skill, *args, **kwargs)
        except errors as exc:
            raise ToolError(describe(exc)) from exc

    tool.__name__, tool.__qualname__ = fn.__name__, fn.__qualname__
    tool.__module__, tool.__doc__ = fn.__module__, fn.__doc__
    tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=published, return_annotation=returns
    )
    tool.__annotations__ = {p.name: p.annotation for p in published} | {"return": returns}
    return tool
