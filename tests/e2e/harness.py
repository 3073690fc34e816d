"""The whole service in-process, with the real opencode, against a scripted model
and a fake Slack. Shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from agent.service import Service
from agent.settings import Settings, new_webhook_secret
from tests.conftest import OPENCODE_BIN, free_port
from tests.fakes import slack as fake_slack
from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack

NOTIFY = "CNOTIFY"
ALICE = "UALICE"  # on the allowlist
MALLORY = "UMALLORY"  # not on it


def service_settings(state_dir: Path, model_url: str, slack_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "model_base_url": model_url,
        "model": "scripted",
        "webhook_secret": new_webhook_secret(),
        "host": "127.0.0.1",
        "port": free_port(),
        "allowed_users": ALICE,
        "notify_channel": NOTIFY,
        "slack_api_url": slack_url,
        "slack_bot_token": fake_slack.BOT_TOKEN,
        "slack_app_token": fake_slack.APP_TOKEN,
        "slack_signing_secret": fake_slack.SIGNING_SECRET,
        "opencode_bin": OPENCODE_BIN,
        # No MLflow needed by these tests: point the skill at a closed port.
        "mlflow_tracking_uri": f"http://127.0.0.1:{free_port()}",
        "local_gpus": 2,
        "model_down_grace_s": 1.0,
        "turn_timeout_s": 120.0,
        # No morning digest of the service's own: run between 07:30 and 08:30 it would
        # add a turn and a post to any test (the overnight test queues its digest itself).
        "digest_time": None,
        # No scheduler watch passes either: a job a test left ending would add a turn
        # (tests/watch turns it on where it is what they test).
        "watch_interval_s": None,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def serving(settings: Settings, slack: FakeSlack) -> AsyncIterator[Service]:
    """The service on `settings`, once the fake Slack has its Socket Mode connection."""
    service = Service(settings)
    await service.start()
    try:
        await slack.wait_connected()
        yield service
    finally:
        await service.stop()


def sign(secret: str, body: bytes, msg_id: str | None = None) -> dict[str, str]:
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        "content-type": "application/json",
    }


async def post_event(url: str, secret: str, **event: Any) -> httpx.Response:
    body = json.dumps(event).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(f"{url}/hooks/training", content=body, headers=sign(secret, body))


def turns(state_dir: Path, conversation: str | None = None) -> list[dict[str, Any]]:
    conn = sqlite3.connect(state_dir / "service.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM turns ORDER BY started").fetchall()
    finally:
        conn.close()
    return [dict(r) for r in rows if conversation is None or r["conversation"] == conversation]


def job_events(state_dir: Path, job: str) -> list[dict[str, Any]]:
    """The events of one job that reached the inbox, in arrival order (not the scheduler
    watcher's items: on a loaded machine a job may end before its last event arrives)."""
    conn = sqlite3.connect(state_dir / "service.sqlite")
    try:
        rows = conn.execute(
            "SELECT payload FROM inbox WHERE kind = 'event' AND conversation = ? ORDER BY id",
            (f"job:{job}",),
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def prompts(model: ScriptedModel) -> str:
    """Everything the model was sent as the latest user text, one request per line."""
    return "\n".join(r.last_user_text for r in model.requests)


def inbox_states(state_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(state_dir / "service.sqlite")
    try:
        rows = conn.execute("SELECT state, count(*) FROM inbox GROUP BY state").fetchall()
    finally:
        conn.close()
    return dict(rows)


async def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll until check() returns something truthy; its last value, or TimeoutError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
