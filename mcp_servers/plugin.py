"""What a skill declares about itself, so the supervisor, `doctor` and the one serve
entry (`python -m mcp_servers <name>`) treat every skill alike.

A skill is a folder `mcp_servers/<name>/` whose `plugin.py` exports one `Skill`,
listed once in `mcp_servers.registry`. The functions here are thin: each imports its
skill's modules only when called, so listing the skills stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.proposals import GateContext
from core.skill_env import SkillEnvironment, Variables
from mcp_servers.sweep_views import SweepsReader


class StartupError(Exception):
    """The skill cannot start with these settings; the message says which and why."""


@dataclass(frozen=True)
class ProposalKind:
    """A gated write the skill proposes: its name in the ledger, and how a refusal names it."""

    name: str
    words: str


@dataclass(frozen=True)
class Skill:
    name: str
    # Its own settings (`<name>/settings.py`): the variables the supervisor passes on.
    variables: Variables
    # Builds the MCP server and serves it over stdio until the client goes away; its gate
    # gets what it must know of the other skills. Raises StartupError (printed as one
    # line, exit 2) when its settings are wrong.
    serve: Callable[[SkillEnvironment, GateContext], None]
    # `mlops-agent doctor`'s line for it: (ok, detail), never raising for a known failure.
    check: Callable[[SkillEnvironment], tuple[bool, str]]
    check_name: str = ""  # the doctor line's label; the skill's name when empty
    # Whether the model gets its tools on this site (e.g. git only with repos configured).
    enabled: Callable[[SkillEnvironment], bool] = lambda _env: True
    # Variables every process of it runs with, and defaults an operator may override.
    environment: Mapping[str, str] = field(default_factory=dict)
    environment_defaults: Mapping[str, str] = field(default_factory=dict)
    proposal_kinds: tuple[ProposalKind, ...] = ()
    sweeps: SweepsReader | None = None  # the sweeps it keeps, for the supervisor to read

    @property
    def label(self) -> str:
        return self.check_name or self.name
