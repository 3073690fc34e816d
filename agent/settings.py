"""The service's one typed settings object: environment, then `.env`, then defaults.

A missing or invalid value fails at start with the variable's name, never in the
middle of a turn. Every secret also reads from a file named by its `*_FILE` twin
(`SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token`), the way container secrets
arrive, so a secret need not sit in the environment. Skills run as their own
processes and read only the variables the supervisor hands them (`core.skill_env`).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from agent.model.weights import DEFAULT_EMBEDDED, EMBEDDED, Weights
from agent.web import web_user
from agent.web.accounts import WebUser, parse_users, read_users_file
from core.clock import QuietHours, parse_hhmm, parse_zone
from core.routes import Routes, RoutesError
from core.skill_env import DEFAULT_PROPOSAL_TTL_S, split_users


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


DEFAULT_MODEL_DIR = Path(".models")
DEFAULT_CONFIRM_PHRASES = ("yes", "go ahead", "approve", "kör på")

# Each secret setting and the variable that holds it; `<variable>_FILE` names a file instead.
SECRET_VARIABLES = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "model_api_key": "MLOPS_MODEL_API_KEY",
    "webhook_secret": "MLOPS_WEBHOOK_SECRET",
}


class SecretFiles(PydanticBaseSettingsSource):
    """Secrets from the files their `*_FILE` variables name (Compose and Docker secrets)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field, variable in SECRET_VARIABLES.items():
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if os.environ.get(variable):
                # Two sources for one secret: refuse rather than guess which one is current.
                raise SettingsError(f"{variable} and {variable}_FILE are both set; set only one")
            try:
                # Files written by editors and `echo` end with a newline that is no part of it.
                secret = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(
                    f"{variable}_FILE: cannot read {path} ({exc.strerror}); "
                    "give the path of a file holding the secret, readable by this user"
                ) from None
            # Keyed as the other sources key it (by alias where the field has one),
            # so the order of the sources decides which one wins.
            aliased = self.settings_cls.model_fields[field].validation_alias is not None
            values[variable if aliased else field] = secret
        return values


def _matrix(name: str) -> Any:
    """A MATRIX_* variable: Matrix's own names, without the MLOPS_ prefix."""
    return Field(None, validation_alias=AliasChoices(f"MATRIX_{name.upper()}", f"matrix_{name}"))


def read_secret_file(path: Path, variable: str) -> str:
    """A secret kept in a file (a container secret): its first line, never empty."""
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{variable}: {path} is empty; it should hold the secret")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MLOPS_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # The model: any OpenAI-compatible endpoint; without one, the embedded model
    # (MLOPS_MODEL=embedded, the default, or embedded-small) as a child of the service.
    model_base_url: str | None = None
    model: str | None = None
    model_api_key: str = "none"
    model_context: int | None = Field(None, gt=1024)  # None: 16384 embedded, else 32768
    model_max_output: int | None = Field(None, gt=0)  # None: 1024 embedded, else 4096
    model_temperature: float = Field(0.2, ge=0, le=2)
    # Tool calls a model writes as text turned into real calls (None: on for the embedded).
    model_tool_text: Literal["repair", "off"] | None = None
    model_dir: Path = DEFAULT_MODEL_DIR  # the embedded model's GGUF files
    model_threads: int | None = Field(None, ge=1)  # the embedded model's; None: every core

    # Event intake.
    webhook_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Where people reach the service (behind a TLS proxy: its https:// address); None: here.
    public_url: str | None = None
    # Proxies whose X-Forwarded-For/-Proto are believed: addresses or networks (10.0.0.0/8).
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_max_bytes: int = Field(256 * 1024, gt=0)

    # State and turns.
    state_dir: Path = Path("state")
    brief_dir: Path = Path(__file__).resolve().parent.parent / "brief"
    silence_marker: str = Field("<silent/>", min_length=1)
    # None: 4, or 2 with the embedded model (each is one of its slots on a few cores).
    max_concurrent_turns: int | None = Field(None, ge=1)
    # None: 300 s, or 900 s with the embedded model (a first prompt on CPU takes minutes).
    turn_timeout_s: float | None = Field(None, gt=0)
    model_down_grace_s: float = Field(120.0, ge=0)
    model_check_interval_s: float = Field(5.0, gt=0)
    opencode_bin: Path | None = None
    # opencode's memory grows with every turn; past this it is restarted between turns
    # (sessions persist). Sized from bench/bench_soak.py; 0 turns the limit off.
    opencode_max_rss_mb: float = Field(1024.0, ge=0)

    # Chat: which one carries the conversations (None: Slack when SLACK_BOT_TOKEN is set,
    # else the service's own web page), and whether the web page runs beside another chat.
    chat: Literal["slack", "matrix", "web"] | None = None
    web: Literal["on", "off"] = "on"
    allowed_users: Annotated[frozenset[str], NoDecode] = frozenset()
    notify_channel: str | None = None
    routes: Path | None = None  # MLOPS_ROUTES: per-customer channels and approvers (core.routes)
    slack_api_url: str | None = None
    slack_mode: Literal["socket", "http"] = "socket"
    confirm_phrases: Annotated[tuple[str, ...], NoDecode] = DEFAULT_CONFIRM_PHRASES
    # The web page's people (JSON, see agent.web.accounts), merged with the users file's.
    web_users: Annotated[dict[str, WebUser], NoDecode] = Field(default_factory=dict)
    web_users_file: Path | None = None  # None: <state_dir>/web_users.json
    slack_bot_token: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_app_token: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_signing_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    # Matrix (MLOPS_CHAT=matrix): the bot's account on the team's homeserver, and the room
    # job threads start in (a room id or an alias).
    matrix_homeserver: str | None = _matrix("homeserver")
    matrix_user_id: str | None = _matrix("user_id")
    matrix_access_token: str | None = _matrix("access_token")
    matrix_access_token_file: Path | None = _matrix("access_token_file")
    matrix_password: str | None = _matrix("password")
    matrix_notify_room: str | None = _matrix("notify_room")

    # Skills: each backend is one setting away from the real thing.
    scheduler: Literal["local", "slurm", "ray"] = "local"
    local_gpus: int | None = Field(None, ge=0)
    mlflow_tracking_uri: str | None = None  # None: the service starts a local MLflow server
    datasets_root: Path | None = None  # None: <state_dir>/datasets
    git_repos: str | None = None  # JSON, see mcp_servers.git
    proposal_ttl_s: float = Field(DEFAULT_PROPOSAL_TTL_S, gt=0)

    # Budgets the skills enforce on what the agent starts by itself.
    agent_max_jobs: int = Field(2, ge=0)
    agent_gpu_hours: float = Field(8.0, ge=0)
    agent_default_time_limit_min: int = Field(60, gt=0)

    # Overnight: wake-ups for sweeps, the morning digest, and when not to start work.
    tick_interval_s: float | None = Field(1800.0, gt=0)
    digest_time: str | None = "07:30"  # local time, HH:MM; empty = no digest
    timezone: str | None = None  # IANA name; default the machine's zone
    quiet_hours: str | None = None  # e.g. 22:00-06:00: the agent starts no new work then

    # The scheduler watcher (agent/watch): jobs that died, hang or were requeued without a word.
    watch_interval_s: float | None = Field(60.0, gt=0)  # empty or 0: no watching
    watch_grace_s: float = Field(60.0, ge=0)  # how long an ended job's own event may take
    silence_factor: float = Field(3.0, gt=0)  # silent past this × its median gap between events
    silence_min_s: float = Field(900.0, ge=0)  # … and at least this long
    watch_jobs: Annotated[tuple[str, ...], NoDecode] = ()  # job-name globs watched besides

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # A `*_FILE` variable outranks `.env`, as every environment variable does.
        return (
            init_settings,
            env_settings,
            SecretFiles(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @field_validator("allowed_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            return split_users(value)
        return value

    @field_validator("web_users", mode="before")
    @classmethod
    def _web_users(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return {}
        if isinstance(value, str | dict):
            return parse_users(value)  # the error names the user; pydantic adds the variable
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        for proxy in value if isinstance(value, tuple | list) else ():
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network; e.g. 127.0.0.1,10.0.0.0/8"
                ) from None
        return value

    @field_validator("confirm_phrases", mode="before")
    @classmethod
    def _split_phrases(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip().lower() for p in value.split(",") if p.strip())
        return value

    @field_validator("digest_time", "timezone", "quiet_hours", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("watch_interval_s", mode="before")
    @classmethod
    def _zero_is_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() in ("", "0"):
            return None
        return None if value == 0 else value

    @field_validator("watch_jobs", mode="before")
    @classmethod
    def _split_globs(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(g.strip() for g in value.split(",") if g.strip())
        return value

    @field_validator("digest_time")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hhmm(value, "the digest time")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        parse_zone(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        QuietHours.parse(value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("whsec_"):
            raise ValueError("must be a Standard Webhooks secret starting with 'whsec_'")
        return value

    @field_validator("model_base_url", "slack_api_url", "matrix_homeserver", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @property
    def embedded_model(self) -> Weights | None:
        """The embedded model the service runs, or None when it talks to MLOPS_MODEL_BASE_URL."""
        if self.model_base_url is not None:
            return None
        return EMBEDDED[self.model or DEFAULT_EMBEDDED]

    @property
    def resolved_model_context(self) -> int:
        return self.model_context or (16384 if self.embedded_model else 32768)

    @property
    def resolved_model_max_output(self) -> int:
        return self.model_max_output or (1024 if self.embedded_model else 4096)

    @property
    def repair_tool_text(self) -> bool:
        if self.model_tool_text is None:
            return self.embedded_model is not None
        return self.model_tool_text == "repair"

    @property
    def resolved_turn_timeout_s(self) -> float:
        return self.turn_timeout_s or (900.0 if self.embedded_model else 300.0)

    @property
    def resolved_max_concurrent_turns(self) -> int:
        return self.max_concurrent_turns or (2 if self.embedded_model else 4)

    @property
    def resolved_datasets_root(self) -> Path:
        return (self.datasets_root or self.state_dir / "datasets").resolve()

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def chat_kind(self) -> str:
        """The chat that carries conversations: MLOPS_CHAT, or Slack if configured, else web."""
        return self.chat or ("slack" if self.slack_bot_token else "web")

    @property
    def web_enabled(self) -> bool:
        """Whether the service serves its web page (as the chat, or beside another)."""
        return self.web == "on"

    @property
    def resolved_web_users_file(self) -> Path:
        return self.web_users_file or self.state_dir / "web_users.json"

    @property
    def talkers(self) -> frozenset[str]:
        """Who the agent listens to: the chat's allowlist and every web user (`web:<name>`)."""
        web = {web_user(n) for n in self.web_users} if self.web_enabled else set()
        return self.allowed_users | web

    @property
    def approvers(self) -> frozenset[str]:
        """Who may approve a proposal: the chat's allowlist and the web users who approve."""
        web = {web_user(n) for n, u in self.web_users.items() if u.approver}
        return self.allowed_users | (web if self.web_enabled else set())

    def load_routes(self, default_channel: str | None = None) -> Routes:
        """The routes file, read and checked; the default route alone without one. A route's
        approvers come from everyone who may approve (the allowlist and approving web users).
        `default_channel`: the notify channel as the chat names it (MLOPS_NOTIFY_CHANNEL)."""
        return Routes.load(
            self.routes,
            allowed_users=self.approvers,
            default_channel=default_channel or self.notify_channel,
            talkers=self.talkers,
        )

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        if self.matrix_access_token is None and self.matrix_access_token_file is not None:
            self.matrix_access_token = read_secret_file(
                self.matrix_access_token_file, "MATRIX_ACCESS_TOKEN_FILE"
            )
        return self

    @model_validator(mode="after")
    def _model_is_known(self) -> Settings:
        if self.model_base_url is None and self.model is not None and self.model not in EMBEDDED:
            raise ValueError(
                f"MLOPS_MODEL={self.model} needs MLOPS_MODEL_BASE_URL, the endpoint that serves "
                f"it; without one, MLOPS_MODEL is {' or '.join(EMBEDDED)} (README: The model)"
            )
        return self

    @model_validator(mode="after")
    def _chat_is_configured(self) -> Settings:
        if self.chat == "slack" and not self.slack_bot_token:
            raise ValueError("MLOPS_CHAT=slack needs SLACK_BOT_TOKEN (see README: Slack)")
        if self.chat == "matrix":
            needed = {
                "MATRIX_HOMESERVER": self.matrix_homeserver,
                "MATRIX_USER_ID": self.matrix_user_id,
                "MATRIX_ACCESS_TOKEN (or MATRIX_ACCESS_TOKEN_FILE, or MATRIX_PASSWORD)": (
                    self.matrix_access_token or self.matrix_password
                ),
                "MATRIX_NOTIFY_ROOM": self.matrix_notify_room,
            }
            if missing := [name for name, value in needed.items() if not value]:
                raise ValueError(
                    f"MLOPS_CHAT=matrix needs {', '.join(missing)} (see README: Matrix)"
                )
        if self.chat == "web" and self.web == "off":
            raise ValueError("MLOPS_CHAT=web needs the web page: set MLOPS_WEB=on")
        return self

    @model_validator(mode="after")
    def _merge_users_file(self) -> Settings:
        # The environment's users win over the file's of the same name.
        self.web_users = {**read_users_file(self.resolved_web_users_file), **self.web_users}
        return self

    @model_validator(mode="after")
    def _routes_are_valid(self) -> Settings:
        try:
            self.load_routes()
        except RoutesError as exc:
            raise ValueError(str(exc)) from None
        return self

    @field_validator("matrix_user_id")
    @classmethod
    def _matrix_id(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("@") and ":" in value):
            raise ValueError("must be a full Matrix user id like @mlops-bot:example.org")
        return value

    @field_validator("matrix_notify_room")
    @classmethod
    def _matrix_room(cls, value: str | None) -> str | None:
        # Room ids of room version 12 carry no server name (!abc…); aliases always do.
        is_alias = value is not None and value.startswith("#") and ":" in value
        if value is not None and not (value.startswith("!") or is_alias):
            raise ValueError("must be a room id (!abc…) or an alias (#ops:example.org)")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's error into one naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            # A check across settings has no one field: its message names the variables.
            lines.append(f"{env_name(str(err['loc'][0]))}: {message}" if err["loc"] else message)
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def env_name(field: str) -> str:
    if field.startswith("slack_") and field in {
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
    }:
        return field.upper()
    if field.startswith("matrix_"):
        return field.upper()
    return "MLOPS_" + field.upper()


def new_webhook_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
