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
        members: [web:cy]            # optional: who else sees its threads on the web page
        repos:                       # optional: the paths it owns (and its threads may change)
          training: ["configs/customer-a/**"]
        secret_file: /etc/mlops-agent/customer-a.whsec  # optional: its jobs' webhook secret
    default:                         # optional: everything no route matches, and DMs
      approvers: [U0ANN]             # default: everyone on the allowlist

Without the file there is one route, the default: `MLOPS_NOTIFY_CHANNEL` and the
allowlist. The supervisor uses routes to place messages and to record who
approved; the skills use them again at apply time (a boundary, so both check).
What a write touches decides whose it is (`core.approvers`): a path listed in a
route's `repos`, a job matching its `jobs`. The default route owns only what no
route lists, never another route's paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
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
    # repo name → the path globs this route owns (and its threads may change); None: none
    repos: Mapping[str, tuple[str, ...]] | None = None
    # Who sees its threads on the web page besides its approvers.
    members: frozenset[str] = frozenset()
    # Its jobs' webhook secret (`secret_file`); None: the site's MLOPS_WEBHOOK_SECRET.
    secret: str | None = field(default=None, repr=False)

    @property
    def people(self) -> frozenset[str]:
        """Who belongs to the route: its approvers and members."""
        return self.approvers | self.members

    def owns(self, repo: str, path: str) -> bool:
        """Whether `path` of `repo` is this route's (listed in its `repos`)."""
        globs = (self.repos or {}).get(repo)
        return globs is not None and matches(path, globs)


@dataclass(frozen=True)
class Routes:
    routes: tuple[Route, ...] = ()
    default: Route = field(default_factory=lambda: Route(DEFAULT))
    people: Mapping[str, str] = field(default_factory=dict)  # owner → chat user id

    @classmethod
    def load(
        cls,
        path: Path | None,
        *,
        allowed_users: frozenset[str],
        default_channel: str | None,
        talkers: frozenset[str] | None = None,
    ) -> Routes:
        """The operator's file, or the single default route when `path` is None.

        `allowed_users`: who may approve at all; `talkers`: everyone the service listens to,
        who may be a route's member (None: members are not checked, as in a skill, which
        needs only the approvers; the service checks them at start)."""
        checked = talkers is not None
        talkers = allowed_users if talkers is None else talkers | allowed_users
        if path is None:
            default = Route(DEFAULT, channel=default_channel, approvers=allowed_users)
            return cls(default=replace(default, members=talkers))
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
        routes = tuple(r.route(path, allowed_users, talkers, checked) for r in spec.routes)
        names = [r.name for r in routes]
        if len(set(names)) != len(names) or DEFAULT in names:
            raise RoutesError(f"{path}: route names must be unique and not {DEFAULT!r}: {names}")
        secrets = [r.secret for r in routes if r.secret is not None]
        if len(set(secrets)) != len(secrets):
            # One secret for two routes would let one customer's jobs post as the other's.
            raise RoutesError(f"{path}: two routes share a webhook secret: give each its own")
        default_spec = spec.default or _Default()
        approvers = _approvers(path, DEFAULT, default_spec.approvers, allowed_users)
        members = _people(path, DEFAULT, "members", default_spec.members, talkers, checked)
        default = Route(
            DEFAULT,
            channel=default_spec.channel or default_channel,
            approvers=allowed_users if approvers is None else approvers,
            # Without a `default:` list, everyone sees the default route's threads.
            members=talkers if approvers is None and members is None else members or frozenset(),
        )
        return cls(routes, default, dict(spec.people))

    @property
    def all(self) -> tuple[Route, ...]:
        return (*self.routes, self.default)

    def named(self, name: str) -> Route:
        return next((r for r in self.all if r.name == name), self.default)

    def for_job(self, job: str) -> Route:
        return next((r for r in self.routes if matches(job, r.jobs)), self.default)

    def for_job_labels(
        self,
        job: str,
        labels: object = None,
        sweep_base_job: Callable[[str], str | None] = lambda _: None,
    ) -> Route:
        """A job's route as its events are routed: a sweep's trial (labels `sweep`) by the
        sweep's base job, like the sweep's conversation; any other job by its name."""
        sweep = labels.get("sweep") if isinstance(labels, Mapping) else None
        if isinstance(sweep, str) and sweep:
            return self.for_conversation(f"sweep:{sweep}", sweep_base_job)
        return self.for_job(job)

    def for_channel(self, channel: str) -> Route:
        return next((r for r in self.routes if r.channel == channel), self.default)

    def owners_of_path(self, repo: str, path: str) -> tuple[Route, ...]:
        """The routes that list `path` in their `repos` (all of them, so overlapping globs
        need an approver of each); the default route when none does."""
        return tuple(r for r in self.routes if r.owns(repo, path)) or (self.default,)

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
    members: list[str] = Field(default_factory=list)
    repos: dict[str, list[str]] | None = None
    secret_file: Path | None = None

    @field_validator("jobs")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        if any(not g.strip() for g in value):
            raise ValueError("job globs must be non-empty, e.g. 'customer-a/**'")
        return value

    def route(
        self, path: Path, allowed_users: frozenset[str], talkers: frozenset[str], checked: bool
    ) -> Route:
        approvers = _approvers(path, self.name, self.approvers, allowed_users) or frozenset()
        members = _people(path, self.name, "members", self.members, talkers, checked)
        repos = {repo: tuple(globs) for repo, globs in self.repos.items()} if self.repos else None
        secret = _secret(path, self.name, self.secret_file) if self.secret_file else None
        members = members or frozenset()
        return Route(self.name, tuple(self.jobs), self.channel, approvers, repos, members, secret)


class _Default(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = None
    approvers: list[str] | None = None
    members: list[str] | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: dict[str, str] = Field(default_factory=dict)
    routes: list[_RouteSpec] = Field(default_factory=list)
    default: _Default | None = None


def _approvers(
    path: Path, route: str, people: list[str] | None, allowed_users: frozenset[str]
) -> frozenset[str] | None:
    why = "(an approver must be allowed to talk to the agent)"
    return _people(path, route, "approvers", people, allowed_users, True, why)


def _people(
    path: Path,
    route: str,
    what: str,
    people: list[str] | None,
    known: frozenset[str],
    checked: bool,
    why: str = "nor a web user (web:<name>)",
) -> frozenset[str] | None:
    if people is None:
        return None
    strangers = sorted(set(people) - known) if checked else []
    if strangers:
        raise RoutesError(
            f"{path}: route {route!r}: {what}: {', '.join(strangers)} not in"
            f" MLOPS_ALLOWED_USERS {why}"
        )
    return frozenset(people)


def _secret(path: Path, route: str, secret_file: Path) -> str:
    """A route's webhook secret, read at start: a relative path is the routes file's neighbour."""
    where = secret_file if secret_file.is_absolute() else path.parent / secret_file
    try:
        secret = where.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RoutesError(
            f"{path}: route {route!r}: secret_file: cannot read {where} ({exc.strerror})"
        ) from None
    if not secret.startswith("whsec_") or len(secret) < 12:
        raise RoutesError(
            f"{path}: route {route!r}: secret_file: {where} must hold a Standard Webhooks"
            " secret: whsec_ and its base64 key, as MLOPS_WEBHOOK_SECRET"
        )
    return secret


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
