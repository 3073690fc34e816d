"""The chat's settings: which chat carries the conversations, who may talk and approve,
Slack's and Matrix's accounts, and the web page's people."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from agent.accounts import web_user
from agent.accounts.users import WebUser, parse_users
from core.routes import Routes
from core.skill_env import split_users

DEFAULT_CONFIRM_PHRASES = ("yes", "go ahead", "approve", "kör på")


def _matrix(name: str) -> Any:
    """A MATRIX_* variable: Matrix's own names, without the MLOPS_ prefix."""
    return Field(None, validation_alias=AliasChoices(f"MATRIX_{name.upper()}", f"matrix_{name}"))


class ChatSettings(BaseSettings):
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
    # The web page's people (JSON, see agent.accounts.users), merged with the users file's.
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

    @field_validator("confirm_phrases", mode="before")
    @classmethod
    def _split_phrases(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip().lower() for p in value.split(",") if p.strip())
        return value

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
