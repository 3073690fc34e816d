"""The service's one typed settings object: environment, then `.env`, then defaults.

A missing or invalid value fails at start with the variable's name, never in the
middle of a turn. Every secret also reads from a file named by its `*_FILE` twin
(`SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token`), the way container secrets
arrive, so a secret need not sit in the environment. Skills run as their own
processes and read only the variables the supervisor hands them (`core.skill_env`).

The fields live in groups by concern (`agent.settings.groups`, `agent.settings.chat`,
`agent.settings.skills`); `Settings` joins them and keeps what spans groups: the
sources, the env prefix, the checks across settings.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from agent.accounts.users import read_users_file
from agent.model.weights import EMBEDDED
from agent.settings.chat import DEFAULT_CONFIRM_PHRASES, ChatSettings
from agent.settings.groups import (
    DEFAULT_MODEL_DIR,
    HttpSettings,
    ModelSettings,
    ScheduleSettings,
    ServiceSettings,
    WatchSettings,
)
from agent.settings.skills import SkillSettings
from core.routes import RoutesError

__all__ = [
    "DEFAULT_CONFIRM_PHRASES",
    "DEFAULT_MODEL_DIR",
    "SECRET_VARIABLES",
    "Settings",
    "SettingsError",
    "load_settings",
    "new_webhook_secret",
]


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


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


def read_secret_file(path: Path, variable: str) -> str:
    """A secret kept in a file (a container secret): its first line, never empty."""
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{variable}: {path} is empty; it should hold the secret")
    return value


# The groups are listed last-first: pydantic orders fields from the base-most class on,
# so the fields (and the lines of an error naming several) keep the model-first order.
class Settings(
    WatchSettings,
    ScheduleSettings,
    SkillSettings,
    ChatSettings,
    ServiceSettings,
    HttpSettings,
    ModelSettings,
):
    model_config = SettingsConfigDict(
        env_prefix="MLOPS_", env_file=".env", extra="ignore", populate_by_name=True
    )

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

    @field_validator("model_base_url", "slack_api_url", "matrix_homeserver", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @property
    def resolved_turn_timeout_s(self) -> float:
        return self.turn_timeout_s or (900.0 if self.embedded_model else 300.0)

    @property
    def resolved_max_concurrent_turns(self) -> int:
        return self.max_concurrent_turns or (2 if self.embedded_model else 4)

    @property
    def resolved_web_users_file(self) -> Path:
        return self.web_users_file or self.state_dir / "web_users.json"

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
