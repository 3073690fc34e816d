"""`mlops-agent doctor`'s way into the mlflow skill: does the team's tracking server answer?"""

from __future__ import annotations

import contextlib

import httpx

from core.skill_env import SkillEnvironment

from .settings import MlflowSettings


def check(env: SkillEnvironment) -> tuple[bool, str]:
    tracking_uri = MlflowSettings.from_env(env).tracking_uri
    if tracking_uri is None:
        return False, "MLFLOW_TRACKING_URI is not set"
    return health(tracking_uri)


def health(tracking_uri: str, timeout_s: float = 3.0) -> tuple[bool, str]:
    """Whether an MLflow tracking server answers at `tracking_uri` (for `doctor`)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return False, f"MLflow tracking URI {tracking_uri!r} must be an http:// or https:// URL"
    url = tracking_uri.rstrip("/") + "/health"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return False, f"MLflow at {tracking_uri} unreachable: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return False, f"MLflow at {tracking_uri}: GET /health answered {response.status_code}"
    version = ""
    with contextlib.suppress(httpx.HTTPError):
        v = httpx.get(tracking_uri.rstrip("/") + "/version", timeout=timeout_s)
        if v.status_code == 200:
            version = f" (MLflow {v.text.strip()})"
    return True, f"MLflow at {tracking_uri} healthy{version}"
