"""The Ray dashboard's REST API, as the Ray backend uses it: no `ray` package needed.

The Jobs API (`/api/jobs/`: submit, list, one job, stop, logs), the package
upload a local working directory needs (`/api/packages/gcs/<name>`), and two
reads for `doctor` and the GPU count (`/api/version`, the state API's
`/api/v0/nodes`). Every failure becomes a SchedulerError that says what to check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from .base import SchedulerError

Record = dict[str, Any]
NOT_HELD = 404
REFUSED = (401, 403)
# Sizes of the listing for a busy cluster: seconds, not minutes, even under load.
DEFAULT_TIMEOUT_S = 30.0


class RayDashboard:
    def __init__(
        self,
        address: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.address = address.rstrip("/")
        self._http = httpx.Client(
            base_url=self.address, headers=dict(headers or {}), timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    # -- Jobs API ----------------------------------------------------------------

    def jobs(self) -> list[Record]:
        """Every job the cluster holds: one call, the whole table (Ray has no filters)."""
        return list(self._json("GET", "/api/jobs/", "list jobs"))

    def job(self, submission_id: str) -> Record | None:
        """One job, or None when Ray does not hold it."""
        response = self._send("GET", f"/api/jobs/{_path(submission_id)}", "read a job")
        if response.status_code == NOT_HELD:
            return None
        return dict(self._checked(response, "read a job"))

    def submit(self, body: Mapping[str, Any]) -> str:
        answer = self._json("POST", "/api/jobs/", "submit a job", json=dict(body))
        return str(answer["submission_id"])

    def stop(self, submission_id: str) -> None:
        self._json("POST", f"/api/jobs/{_path(submission_id)}/stop", "stop a job")

    def logs(self, submission_id: str) -> str | None:
        """The job's whole log (Ray's API has no tail); None when Ray does not hold it."""
        response = self._send("GET", f"/api/jobs/{_path(submission_id)}/logs", "read logs")
        if response.status_code == NOT_HELD:
            return None
        return str(self._checked(response, "read logs")["logs"])

    # -- packages ----------------------------------------------------------------

    def has_package(self, name: str) -> bool:
        """Whether the cluster holds `gcs://<name>`; the check also pins it for a while, so
        it is not collected between the upload and the submission (as Ray's client does)."""
        response = self._send("GET", f"/api/packages/gcs/{_path(name)}", "check a package")
        if response.status_code == NOT_HELD:
            return False
        self._checked(response, "check a package", parse=False)
        return True

    def upload_package(self, name: str, zip_file: Path) -> None:
        with open(zip_file, "rb") as data:
            response = self._send(
                "PUT", f"/api/packages/gcs/{_path(name)}", "upload the working directory",
                content=data,
            )  # fmt: skip
        self._checked(response, "upload the working directory", parse=False)

    # -- the cluster -------------------------------------------------------------

    def version(self) -> Record:
        """`{"ray_version": "2.60.0", "session_name": ...}`: also proves the Jobs API is up."""
        response = self._send("GET", "/api/version", "read its version")
        if response.status_code == NOT_HELD:
            raise SchedulerError(
                f"{self.address} has no /api/version: not a Ray dashboard; MLOPS_RAY_ADDRESS"
                " is the dashboard's URL (port 8265 unless the cluster chose another)"
            )
        return dict(self._checked(response, "read its version"))

    def nodes(self) -> list[Record]:
        """The cluster's nodes with their `resources_total` (the state API)."""
        answer = self._json("GET", "/api/v0/nodes?limit=10000", "list its nodes")
        return list(answer["data"]["result"]["result"])

    # -- plumbing ----------------------------------------------------------------

    def _json(self, method: str, path: str, what: str, **kw: Any) -> Any:
        return self._checked(self._send(method, path, what, **kw), what)

    def _send(self, method: str, path: str, what: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.TimeoutException:
            raise SchedulerError(
                f"the Ray dashboard at {self.address} did not answer within"
                f" {self._http.timeout.read} s when asked to {what}"
            ) from None
        except httpx.HTTPError as exc:
            raise SchedulerError(
                f"cannot reach the Ray dashboard at {self.address} to {what}: {exc};"
                " MLOPS_RAY_ADDRESS must be the dashboard's URL as this machine reaches it,"
                " e.g. http://ray-head:8265"
            ) from None

    def _checked(self, response: httpx.Response, what: str, parse: bool = True) -> Any:
        if response.status_code in REFUSED:
            raise SchedulerError(
                f"the Ray dashboard at {self.address} refused to {what} (HTTP"
                f" {response.status_code}): check the headers in MLOPS_RAY_HEADERS_FILE"
            )
        if response.status_code >= 400:
            raise SchedulerError(
                f"Ray refused to {what} (HTTP {response.status_code}): {_gist(response.text)}"
            )
        if not parse:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise SchedulerError(
                f"{self.address} does not answer like a Ray dashboard when asked to {what}"
                f" (HTTP {response.status_code}, not JSON: {response.text[:80]!r})"
            ) from None


def read_headers(path: Path) -> dict[str, str]:
    """`MLOPS_RAY_HEADERS_FILE`: a JSON object of HTTP headers sent with every request,
    e.g. `{"Authorization": "Bearer ..."}` for a proxy or Ray's token auth in front."""
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise SchedulerError(f"MLOPS_RAY_HEADERS_FILE={path}: cannot read it: {exc}") from None
    except ValueError as exc:
        raise SchedulerError(f"MLOPS_RAY_HEADERS_FILE={path}: not JSON: {exc}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise SchedulerError(
            f"MLOPS_RAY_HEADERS_FILE={path}: must be a JSON object of header names to"
            ' strings, e.g. {"Authorization": "Bearer <token>"}'
        )
    return raw


def _path(segment: str) -> str:
    return quote(segment, safe="")


def _gist(text: str) -> str:
    """Ray answers a refusal with a traceback: its last line says why."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no detail"
