"""A real Synapse homeserver on 127.0.0.1 for the Matrix tests.

Synapse comes from PyPI into its own virtual environment (`make
install-synapse` makes `.venv-synapse`), so its dependencies never touch the
service's. The configuration is written here, not generated: a free port on
127.0.0.1 only, the client API only, sqlite, no federation key servers,
presence and URL previews off, and rate limits relaxed far enough that a test
never meets one unless it asks for it. Users are registered through the
shared-secret admin API, as an operator's script would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import ROOT, free_port

SYNAPSE_PYTHON = ROOT / ".venv-synapse/bin/python"
SERVER_NAME = "localhost"
START_TIMEOUT_S = 90.0  # 2-3 s on an idle machine; much more on a loaded one

_RELAXED = {"per_second": 1000, "burst_count": 1000}


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    password: str
    access_token: str
    device_id: str

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]


def synapse_config(root: Path, port: int) -> dict[str, Any]:
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(root / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(root / "homeserver.db")}},
        "log_config": str(root / "log.config"),
        "media_store_path": str(root / "media_store"),
        "signing_key_path": str(root / "signing.key"),
        "registration_shared_secret": secrets.token_urlsafe(32),
        "macaroon_secret_key": secrets.token_urlsafe(32),
        "form_secret": secrets.token_urlsafe(32),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "enable_metrics": False,
        "rc_message": _RELAXED,
        "rc_registration": _RELAXED,
        "rc_room_creation": _RELAXED,
        "rc_login": {k: _RELAXED for k in ("address", "account", "failed_attempts")},
        "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
        "rc_joins_per_room": _RELAXED,
        "rc_invites": {k: _RELAXED for k in ("per_room", "per_user", "per_issuer")},
        "rc_admin_redaction": _RELAXED,
        "rc_media_create": _RELAXED,
    }


LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {log}
loggers:
  synapse.storage.SQL:
    level: WARNING
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


class Synapse:
    """One homeserver process; `start()` returns when its client API answers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = synapse_config(root, self.port)
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def installed() -> bool:
        return SYNAPSE_PYTHON.exists()

    def start(self) -> Synapse:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "homeserver.yaml").write_text(yaml.safe_dump(self.config))
        (self.root / "log.config").write_text(LOG_CONFIG.format(log=self.root / "homeserver.log"))
        # Synapse's key format: algorithm, version, unpadded base64 of a 32-byte ed25519 seed.
        seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
        (self.root / "signing.key").write_text(f"ed25519 a_test {seed}\n")
        self._process = subprocess.Popen(
            [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", "homeserver.yaml"],
            cwd=self.root,
            stdout=(self.root / "stdout.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Synapse exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for name in ("stdout.log", "homeserver.log"):
            path = self.root / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return text

    def register(self, localpart: str, *, admin: bool = False) -> MatrixUser:
        """A new account through the shared-secret admin API (what `register_new_matrix_user`
        does)."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(endpoint, timeout=30).json()["nonce"]
        password = secrets.token_urlsafe(12)
        mac = hmac.new(
            self.config["registration_shared_secret"].encode(),
            b"\x00".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            ),
            hashlib.sha1,
        ).hexdigest()
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac,
        }
        r = httpx.post(endpoint, json=body, timeout=30)
        r.raise_for_status()
        data = r.json()
        return MatrixUser(data["user_id"], password, data["access_token"], data["device_id"])
