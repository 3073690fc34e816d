"""The web page in-process, over real parts: the service database, inbox, conversations,
transcript, outbox, chat intake and guard ledger. No opencode and no model: these tests
are about the page's own boundary, answered before anything reaches a turn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agent.accounts.passwords import hash_password
from agent.chat.card import Card
from agent.engine.conversations import Conversations
from agent.engine.db import Database
from agent.engine.hub import Hub
from agent.engine.inbox import Inbox
from agent.engine.outbox import Outbox
from agent.engine.transcript import Transcript
from agent.intake.chat import ChatIntake
from agent.settings import Settings, load_settings
from agent.web.bridge import WebBridge
from agent.web.page import WebPage
from core.ledger import Ledger, Proposal, create_key

BASE = "http://127.0.0.1:8080"
PASSWORDS = {"alice": "alice-pass-1", "carol": "carol-pass-1"}


def quick_hash(password: str) -> str:
    """A hash the page verifies as any other, with the old, cheaper scrypt cost (N=2^14):
    these tests sign in often, and what they test is not the hash's cost."""
    return hash_password(password, n=2**14)


USERS = {
    "alice": {"password": quick_hash(PASSWORDS["alice"]), "approver": True},
    "carol": {"password": quick_hash(PASSWORDS["carol"]), "approver": False},
    "ops": {"password": None, "approver": True},
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class PageRig:
    settings: Settings
    db: Database
    inbox: Inbox
    conversations: Conversations
    outbox: Outbox
    ledger: Ledger
    hub: Hub
    page: WebPage
    intake: ChatIntake

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A browser on `address`, talking to the page at its base URL (https: over TLS)."""
        transport = httpx.ASGITransport(app=self.page.app(), client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url=self.page.base_url)

    @contextlib.asynccontextmanager
    async def signed_in(
        self, name: str, password: str | None = None
    ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A signed-in client and its session's CSRF token."""
        async with self.client() as client:
            yield client, await self._sign_in(client, name, password or PASSWORDS[name])

    async def _sign_in(self, client: httpx.AsyncClient, name: str, password: str) -> str:
        form = await client.get("/login")
        token = CSRF.search(form.text)
        assert token, form.text
        answer = await client.post(
            "/login",
            data={"csrf": token[1], "name": name, "password": password, "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        home = await client.get("/")
        csrf = CSRF.search(home.text)
        assert csrf, home.text
        return csrf[1]

    async def inbox_rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT kind, conversation, payload FROM inbox ORDER BY id"
            ).fetchall()
        )
        return [(k, c, json.loads(p)) for k, c, p in rows]

    async def proposal_card(self, conversation: str = "job:cust-b/x") -> Proposal:
        """A proposal made in a turn of `conversation`, its card posted as the service does."""
        turn = await asyncio.to_thread(self.ledger.record_turn, conversation, "event", "x")
        proposal = await asyncio.to_thread(
            self.ledger.propose,
            turn.turn_id,
            "git_change",
            {"repo": "training", "path": "configs/train.yaml", "reason": "OOM at 1280"},
            "--- a/configs/train.yaml\n+++ b/configs/train.yaml\n@@ -1 +1 @@\n"
            "-image_size: 1280\n+image_size: 640\n",
        )
        card = Card.of(proposal, ("yes",))
        await self.outbox.reply(conversation, card.text(), card=card)
        return proposal


def rig_settings(state: Path, users: dict[str, Any] | None = None, **values: object) -> Settings:
    return load_settings(
        _env_file=None, state_dir=state, web_users=json.dumps(users or USERS), chat="web", **values
    )


@contextlib.asynccontextmanager
async def page_rig(
    state: Path, users: dict[str, Any] | None = None, base_url: str = BASE, **values: object
) -> AsyncIterator[PageRig]:
    settings = rig_settings(state, users, **values)
    db = Database(state / "service.sqlite")
    await db.open()
    hub = Hub()
    inbox = Inbox(db, hub)
    await inbox.start()
    conversations = Conversations(db)
    transcript = Transcript(db, hub)
    bridge = WebBridge()
    outbox = Outbox(bridge, conversations, "web", transcript=transcript, page=bridge)
    create_key(state / "ledger.key")
    ledger = Ledger.from_files(state / "ledger.sqlite", state / "ledger.key")

    async def proposal_conversation(proposal_id: str) -> str | None:
        found = await asyncio.to_thread(ledger.proposal, proposal_id)
        return found.conversation if found else None

    intake = ChatIntake(
        allowed_users=settings.talkers,
        inbox=inbox,
        conversations=conversations,
        proposal_conversation=proposal_conversation,
        wake=lambda: None,
    )
    await bridge.start(intake.on_message, intake.on_click)
    page = WebPage(
        settings=settings,
        db=db,
        hub=hub,
        transcript=transcript,
        bridge=bridge,
        ledger=ledger,
        attachments=state / "attachments",
        base_url=base_url,
    )
    await page.open()
    try:
        yield PageRig(settings, db, inbox, conversations, outbox, ledger, hub, page, intake)
    finally:
        await inbox.stop()
        await db.close()
