"""Routes: where a conversation's messages go, and who may approve its writes.

A site serving several customers names one operator file in `MLOPS_ROUTES`:

    people:                          # owners as events name them → chat user ids
      ann: U0ANN
      bo: "@bo:example.org"
    routes:
      - name: customer-a
        jobs: ["customer-a/**"]      # job-name globs; the first matching route wins
        channel: C0CUSTA             # Slack channel id or Matrix room id
        approvers: [U0ANN]           # who may approve this route's writes (on the allowlist)
        repos:                       # optional: what its proposals may change, per repo
          training: ["configs/customer-a/**"]
    default:                         # optional: everything no route matches, and DMs
      approvers: [U0ANN]             # default: everyone on the allowlist

Without the file there is one route, the default: `MLOPS_NOTIFY_CHANNEL` and the
allowlist. The supervisor uses routes to place messages and to record who
approved; the skills use them again at apply time (a boundary, so both check).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.globs import matches

DEFAULT = "default"


class RoutesError(ValueError):
    """The routes file is unreadable or invalid; the message names file, route and field."""


@dataclass(frozen=True)
class Route:
    name: str
    jobs: tuple[str, ...] = ()
    channel: str | None = None  # None: the default channel (MLOPS_NOTIFY_CHANNEL)
    approvers: frozenset[str] = frozenset()
    # repo name → writable path globs for this route's proposals; None: the repo's own list
    repos: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Routes:
    routes: tuple[Route, ...] = ()
    default: Route = field(default_factory=lambda: Route(DEFAULT))
    people: Mapping[str, str] = field(default_factory=dict)  # owner → chat user id

    @classmethod
    def load(
        cls, path: Path | None, *, allowed_users: frozenset[str], default_channel: str | None
    ) -> Routes:
        """The operator's file, or the single default route when `path` is None."""
        if path is None:
            return cls(default=Route(DEFAULT, channel=default_channel, approvers=allowed_users))
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise RoutesError(f"MLOPS_ROUTES: cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise RoutesError(f"{path}: not valid YAML: {exc}") from None
        try:
            spec = _File.model_validate(raw)
        except ValidationError as exc:
            raise RoutesError(_explain(path, raw, exc)) from None
        routes = tuple(r.route(path, i, allowed_users) for i, r in enumerate(spec.routes, 1))
        names = [r.name for r in routes]
        if len(set(names)) != len(names) or DEFAULT in names:
            raise RoutesError(f"{path}: route names must be unique and not {DEFAULT!r}: {names}")
        default_spec = spec.default or _Default()
        approvers = _approvers(path, DEFAULT, default_spec.approvers, allowed_users)
        default = Route(
            DEFAULT,
            channel=default_spec.channel or default_channel,
            approvers=allowed_users if approvers is None else approvers,
        )
        return cls(routes, default, dict(spec.people))

    @property
    def all(self) -> tuple[Route, ...]:
        return (*self.routes, self.default)

    def named(self, name: str) -> Route:
        return next((r for r in self.all if r.name == name), self.default)

    def for_job(self, job: str) -> Route:
        return next((r for r in self.routes if matches(job, r.jobs)), self.default)

    def for_channel(self, channel: str) -> Route:
        return next((r for r in self.routes if r.channel == channel), self.default)

    def for_conversation(
        self, key: str, sweep_base_job: Callable[[str], str | None] = lambda _: None
    ) -> Route:
        """`job:<name>`, `sweep:<id>` (by its base job), `chat:<channel>:<ts>`,
        `digest:<route>:<date>`; anything else is the default route's."""
        kind, _, rest = key.partition(":")
        if kind == "job":
            return self.for_job(rest)
        if kind == "sweep":
            base = sweep_base_job(rest)
            return self.for_job(base) if base else self.default
        if kind == "chat":
            return self.for_channel(rest.rsplit(":", 1)[0])
        if kind == "digest":
            return self.named(rest.split(":", 1)[0])
        return self.default

    def mention(self, owner: str | None) -> str | None:
        """The chat user id an owner is mapped to; None for an unmapped owner."""
        return self.people.get(owner) if owner else None


# -- the file's schema -----------------------------------------------------------------


class _RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    jobs: list[str] = Field(min_length=1)
    channel: str = Field(min_length=1)
    approvers: list[str] = Field(default_factory=list)
    repos: dict[str, list[str]] | None = None

    @field_validator("jobs")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        if any(not g.strip() for g in value):
            raise ValueError("job globs must be non-empty, e.g. 'customer-a/**'")
        return value

    def route(self, path: Path, index: int, allowed_users: frozenset[str]) -> Route:
        approvers = _approvers(path, self.name, self.approvers, allowed_users) or frozenset()
        repos = {repo: tuple(globs) for repo, globs in self.repos.items()} if self.repos else None
        return Route(self.name, tuple(self.jobs), self.channel, approvers, repos)


class _Default(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = None
    approvers: list[str] | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: dict[str, str] = Field(default_factory=dict)
    routes: list[_RouteSpec] = Field(default_factory=list)
    default: _Default | None = None


def _approvers(
    path: Path, route: str, people: list[str] | None, allowed_users: frozenset[str]
) -> frozenset[str] | None:
    if people is None:
        return None
    strangers = sorted(set(people) - allowed_users)
    if strangers:
        raise RoutesError(
            f"{path}: route {route!r}: approvers: {', '.join(strangers)} not in "
            "MLOPS_ALLOWED_USERS (an approver must be allowed to talk to the agent)"
        )
    return frozenset(people)


def _explain(path: Path, raw: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
            index = loc[1]
            name = None
            if isinstance(raw, dict) and isinstance(raw.get("routes"), list):
                entries = raw["routes"]
                if index < len(entries) and isinstance(entries[index], dict):
                    name = entries[index].get("name")
            where = f"route {name!r}" if name else f"route #{index + 1}"
            loc = loc[2:]
        field_name = ".".join(str(p) for p in loc) or "(top level)"
        lines.append(f"{path}: {where + ': ' if where else ''}{field_name}: {err['msg']}")
    return "\n".join(lines)
