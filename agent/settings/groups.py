"""The service's settings by concern: the model, HTTP, the service's own run, the schedule
and the scheduler watch. `agent.settings.Settings` puts them together (with the chat's in
`agent.settings.chat` and the skills' in `agent.settings.skills`) and owns the checks that
span groups, the sources and the env prefix.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from agent.model.weights import DEFAULT_EMBEDDED, EMBEDDED, Weights
from core.clock import parse_hhmm, parse_zone

DEFAULT_MODEL_DIR = Path(".models")


class ModelSettings(BaseSettings):
    """The model: any OpenAI-compatible endpoint; without one, the embedded model
    (MLOPS_MODEL=embedded, the default, or embedded-small) as a child of the service."""

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


class HttpSettings(BaseSettings):
    """Event intake and where the service listens."""

    webhook_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Where people reach the service (behind a TLS proxy: its https:// address); None: here.
    public_url: str | None = None
    # Proxies whose X-Forwarded-For/-Proto are believed: addresses or networks (10.0.0.0/8).
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_max_bytes: int = Field(256 * 1024, gt=0)

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

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("whsec_"):
            raise ValueError("must be a Standard Webhooks secret starting with 'whsec_'")
        return value


class ServiceSettings(BaseSettings):
    """State and turns, and the processes the service runs beside them."""

    state_dir: Path = Path("state")
    brief_dir: Path = Path(__file__).resolve().parents[2] / "brief"
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
    mlflow_tracking_uri: str | None = None  # None: the service starts a local MLflow server


class ScheduleSettings(BaseSettings):
    """Overnight: wake-ups for sweeps and the morning digest."""

    tick_interval_s: float | None = Field(1800.0, gt=0)
    digest_time: str | None = "07:30"  # local time, HH:MM; empty = no digest
    timezone: str | None = None  # IANA name; default the machine's zone

    @field_validator("digest_time", "timezone", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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


class WatchSettings(BaseSettings):
    """The scheduler watcher (agent/watch): jobs that died, hang or were requeued silently."""

    watch_interval_s: float | None = Field(60.0, gt=0)  # empty or 0: no watching
    watch_grace_s: float = Field(60.0, ge=0)  # how long an ended job's own event may take
    silence_factor: float = Field(3.0, gt=0)  # silent past this × its median gap between events
    silence_min_s: float = Field(900.0, ge=0)  # … and at least this long
    watch_jobs: Annotated[tuple[str, ...], NoDecode] = ()  # job-name globs watched besides

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
