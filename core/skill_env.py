"""The contract between the supervisor and the skills: the environment a skill runs with.

The supervisor builds one `SkillEnvironment` from its settings and hands it to
each skill process as variables (`to_env()`); every skill reads it back with
`from_env()`. Only what every skill shares is here: where state lives, who may
approve, where jobs report, the routes, the clock. A skill's own settings are
its own (`mcp_servers/<name>/settings.py`): they travel in `extra` and the skill
reads them with `read_variables`, through the same parsers, so a bad value is
named the same way on both sides. A skill started by hand (a test, `doctor`)
gets the same defaults the service would give it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import CLOCK_FILE_VARIABLE

DEFAULT_STATE_DIR = Path("state")
LEDGER_FILE = "ledger.sqlite"
LEDGER_KEY_FILE = "ledger.key"
DEFAULT_PROPOSAL_TTL_S = 24 * 3600.0


class SkillEnvironmentError(ValueError):
    """A variable is invalid; the message names it and shows a valid value."""


def split_users(raw: str) -> frozenset[str]:
    """`MLOPS_ALLOWED_USERS`-style lists: comma separated, blanks ignored."""
    return frozenset(u.strip() for u in raw.split(",") if u.strip())


@dataclass(frozen=True)
class SkillEnvironment:
    state_dir: Path | None = None  # None: not given; `state` is then ./state
    attachments_dir: Path | None = None  # None: <state_dir>/attachments
    ledger_key_file: Path | None = None  # None: <state_dir>/ledger.key
    allowed_users: frozenset[str] = frozenset()
    proposal_ttl_s: float = DEFAULT_PROPOSAL_TTL_S
    service_url: str | None = None  # where jobs report (MLOPS_URL)
    webhook_secret: str | None = None  # what jobs sign with
    routes_file: Path | None = None  # MLOPS_ROUTES: per-route channels and approvers
    timezone: str | None = None  # IANA name; None: the machine's zone
    clock_file: Path | None = None  # a virtual clock (evals only; core.clock.Clock)
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def state(self) -> Path:
        """Where the skills keep their state: `MLOPS_STATE_DIR`, else ./state."""
        return self.state_dir or DEFAULT_STATE_DIR

    @property
    def ledger_path(self) -> Path:
        return self.state / LEDGER_FILE

    @property
    def key_file(self) -> Path:
        return self.ledger_key_file or self.state / LEDGER_KEY_FILE

    @property
    def attachments(self) -> Path:
        return self.attachments_dir or self.state / "attachments"

    def to_env(self) -> dict[str, str]:
        """The variables a skill process gets (unset fields are left out)."""
        env = dict(self.extra)
        for name, (variable, _) in _VARIABLES.items():
            value = getattr(self, name)
            if value is None:
                continue
            env[variable] = ",".join(sorted(value)) if name == "allowed_users" else str(value)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SkillEnvironment:
        """Read the contract back; raises SkillEnvironmentError naming a bad variable.

        `extra` keeps every other variable (e.g. `SLURM_CONF`, `MLOPS_SLURM_*`), so a
        backend's own settings travel with it."""
        values = read_variables(_VARIABLES, env)
        known = {variable for variable, _ in _VARIABLES.values()}
        values["extra"] = {k: v for k, v in env.items() if k not in known}
        return cls(**values)

    def replace(self, **changes: Any) -> SkillEnvironment:
        return dataclasses.replace(self, **changes)


Variables = Mapping[str, tuple[str, Callable[[str], Any]]]  # field: (variable, parser)


def read_variables(variables: Variables, env: Mapping[str, str]) -> dict[str, Any]:
    """The fields `env` sets, parsed; blanks are unset. Raises SkillEnvironmentError
    naming the variable and its value."""
    values: dict[str, Any] = {}
    for name, (variable, parse) in variables.items():
        raw = env.get(variable)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[name] = parse(raw.strip())
        except (TypeError, ValueError) as exc:
            raise SkillEnvironmentError(f"{variable}={raw!r}: {exc}") from None
    return values


def count(raw: str) -> int:
    value = int(raw) if raw.isdigit() else -1
    if value < 0:
        raise ValueError("must be a whole number >= 0, e.g. 2")
    return value


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return math.nan


def amount(raw: str) -> float:
    value = _number(raw)
    if not value >= 0:
        raise ValueError("must be a number >= 0, e.g. 8")
    return value


def positive_seconds(raw: str) -> float:
    value = _number(raw)
    if not value > 0:
        raise ValueError("must be a number of seconds > 0, e.g. 86400")
    return value


def minutes(raw: str) -> int:
    value = count(raw)
    if value == 0:
        raise ValueError("must be a whole number of minutes > 0, e.g. 60")
    return value


def text(raw: str) -> str:
    return raw


_VARIABLES: Variables = {
    "state_dir": ("MLOPS_STATE_DIR", Path),
    "attachments_dir": ("MLOPS_ATTACHMENTS_DIR", Path),
    "ledger_key_file": ("MLOPS_LEDGER_KEY_FILE", Path),
    "allowed_users": ("MLOPS_ALLOWED_USERS", split_users),
    "proposal_ttl_s": ("MLOPS_PROPOSAL_TTL_S", positive_seconds),
    "service_url": ("MLOPS_URL", text),
    "webhook_secret": ("MLOPS_WEBHOOK_SECRET", text),
    "routes_file": ("MLOPS_ROUTES", Path),
    "timezone": ("MLOPS_TIMEZONE", text),
    "clock_file": (CLOCK_FILE_VARIABLE, Path),
}
