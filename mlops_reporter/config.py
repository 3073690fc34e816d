"""Where a reporter sends, as whom: arguments first, then `MLOPS_*` environment variables.

Reporting must never stop training, so a problem here is not raised: it is logged once
to stderr, naming the variable and what would be valid, and the reporter turns itself
off (no URL or no usable secret) or leaves the bad field out (labels, attempt).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from mlops_reporter.environment import os_user, script_name

log = logging.getLogger("mlops_reporter")

HOOK_PATH = "/hooks/training"
DEFAULT_SPOOL_DIR = Path("~/.cache/mlops-agent/spool")


@dataclass(frozen=True)
class ReporterConfig:
    job: str
    endpoint: str | None  # full URL of the intake; None: reporting is off
    webhook: Webhook | None
    attempt: int | None
    labels: dict[str, Any]
    spool_dir: Path
    owner: str | None = None  # whose job this is, for the chat mention
    problems: tuple[str, ...] = field(default=())

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None and self.webhook is not None


def load_config(
    job: str | None,
    url: str | None,
    secret: str | None,
    attempt: int | None,
    labels: Mapping[str, Any] | None,
    spool_dir: str | Path | None,
    environ: Mapping[str, str] | None = None,
    owner: str | None = None,
) -> ReporterConfig:
    env = os.environ if environ is None else environ
    problems: list[str] = []

    job = job or env.get("MLOPS_JOB") or script_name()
    endpoint = _endpoint(url or env.get("MLOPS_URL"), problems)
    webhook = _webhook(secret or env.get("MLOPS_WEBHOOK_SECRET"), problems)
    if attempt is None:
        attempt = _attempt(env.get("MLOPS_ATTEMPT"), problems)
    if labels is None:
        labels = _labels(env.get("MLOPS_LABELS"), problems)
    spool = Path(spool_dir or env.get("MLOPS_SPOOL_DIR") or DEFAULT_SPOOL_DIR).expanduser()
    return ReporterConfig(
        job=job,
        endpoint=endpoint if webhook is not None else None,
        webhook=webhook if endpoint is not None else None,
        attempt=attempt,
        labels=dict(labels),
        spool_dir=spool,
        owner=owner or job_owner(env, labels),
        problems=tuple(problems),
    )


def job_owner(environ: Mapping[str, str], labels: Mapping[str, Any]) -> str | None:
    """`MLOPS_OWNER`, else the scheduler's `submitted_by` label (jobs the agent's scheduler
    starts get their labels as `MLOPS_LABELS`), else the OS user running the script."""
    owner = environ.get("MLOPS_OWNER", "").strip()
    if owner:
        return owner
    submitted_by = labels.get("submitted_by")
    if isinstance(submitted_by, str) and submitted_by.strip():
        return submitted_by.strip()
    return os_user(environ)


def _endpoint(url: str | None, problems: list[str]) -> str | None:
    if not url:
        problems.append(
            "MLOPS_URL is not set: reporting is off "
            "(set it to the agent's base URL, e.g. http://mlops-agent:8080)"
        )
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            f"MLOPS_URL={url!r} is not an http(s) URL: reporting is off "
            "(expected e.g. http://mlops-agent:8080)"
        )
        return None
    return url.rstrip("/") + HOOK_PATH


def _webhook(secret: str | None, problems: list[str]) -> Webhook | None:
    if not secret:
        problems.append(
            "MLOPS_WEBHOOK_SECRET is not set: reporting is off "
            "(set it to the agent's webhook secret, whsec_<base64>)"
        )
        return None
    try:
        return Webhook(secret)
    except Exception:
        problems.append(
            "MLOPS_WEBHOOK_SECRET is not a valid Standard Webhooks secret: reporting is off "
            "(expected whsec_ followed by base64, as the agent printed it)"
        )
        return None


def _attempt(raw: str | None, problems: list[str]) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        problems.append(f"MLOPS_ATTEMPT={raw!r} is not a whole number >= 0: attempt left out")
        return None
    return value


def _labels(raw: str | None, problems: list[str]) -> Mapping[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        problems.append(
            f"MLOPS_LABELS={raw!r} is not a JSON object: labels left out "
            '(expected e.g. {"team": "vision", "dataset": "v3"})'
        )
        return {}
    return value
