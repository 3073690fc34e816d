"""Who sees what on the web page: a route's threads for its approvers and members, a
person's own conversations for them, everything for an admin, someone else's DM for no
one else. A hidden conversation answers 404 everywhere it could show: the page, its part,
its files, the audit trail (each filter), the live updates, the proposals list, and
writing or deciding in it. Real database, inbox, transcript, ledger and page; no model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from agent.chat.base import IncomingMessage
from tests.web.rig import PageRig, page_rig, quick_hash

A, B = "job:customer-a/weld", "job:customer-b/pcb"
DM = "chat:D0ANN:1700000000.000100"  # a Slack person's DM
ROUTES = """\
routes:
  - name: customer-a
    jobs: ["customer-a/**"]
    channel: CA
    approvers: [UANN, "web:ann"]
    members: ["web:cy"]
    repos: {training: ["configs/**"]}  # the rig's card changes configs/train.yaml
  - name: customer-b
    jobs: ["customer-b/**"]
    channel: CB
    approvers: ["web:bo"]
default:
  approvers: [UANN]
"""
PASSWORD = "pass-word-1"
USERS = {
    "ann": {"password": quick_hash(PASSWORD), "approver": True},
    "bo": {"password": quick_hash(PASSWORD), "approver": True},
    "cy": {"password": quick_hash(PASSWORD)},
    "root": {"password": quick_hash(PASSWORD), "admin": True},
}


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[PageRig]:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    async with page_rig(
        tmp_path / "state", USERS, routes=tmp_path / "routes.yaml", allowed_users="UANN"
    ) as r:
        yield r


async def seed(rig: PageRig) -> dict[str, Any]:
    """A's and B's job threads, a card and a plot in A's, UANN's DM, bo's own web thread."""
    await rig.inbox.put_event("e-a", {"type": "crashed", "job": "customer-a/weld"})
    await rig.inbox.put_event("e-b", {"type": "crashed", "job": "customer-b/pcb"})
    proposal = await rig.proposal_card(A)
    plot = rig.page.attachments / "loss.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    file_id = await rig.page.transcript.uploaded(A, "web", plot, "loss")
    dm = IncomingMessage("D0ANN", "1700000000.000100", "UANN", "private words", is_dm=True)
    await rig.intake.on_message(dm)
    async with rig.signed_in("bo", PASSWORD) as (client, csrf):
        answer = await client.post(
            "/say", data={"text": "bo's own question", "csrf": csrf},
            headers={"accept": "application/json"},
        )  # fmt: skip
        bo_thread = answer.json()["url"].removeprefix("/c/")
    return {"proposal": proposal.id, "file": file_id, "bo_thread": bo_thread}


async def listed(rig: PageRig, name: str) -> set[str]:
    async with rig.signed_in(name, PASSWORD) as (client, _):
        page = (await client.get("/part/threads")).text
    return {key for key in (A, B, DM) if f'data-key="{key}"' in page} | {
        part.split('"', 1)[0] for part in page.split('data-key="chat:web:')[1:]
    }


async def test_each_person_sees_their_routes_and_their_own(rig: PageRig) -> None:
    seeded = await seed(rig)
    bo_web = seeded["bo_thread"].removeprefix("chat:web:")
    assert await listed(rig, "ann") == {A}  # web:ann is not UANN: not her DM
    assert await listed(rig, "cy") == {A}  # a member of customer-a
    assert await listed(rig, "bo") == {B, bo_web}
    assert await listed(rig, "root") == {A, B, DM, bo_web}  # the admin


async def test_a_hidden_conversation_answers_404_everywhere(rig: PageRig) -> None:
    seeded = await seed(rig)
    async with rig.signed_in("bo", PASSWORD) as (client, csrf):
        for path in (
            f"/c/{A}",
            f"/part/thread/{A}",
            f"/files/{seeded['file']}",
            "/audit?job=customer-a/weld",
            f"/audit?conversation={A}",
            f"/audit?conversation={DM}",
            f"/c/{DM}",
        ):
            assert (await client.get(path)).status_code == 404, path
        # A hidden proposal reads as one that does not exist.
        hidden = await client.get(f"/audit?proposal={seeded['proposal']}")
        unknown = await client.get("/audit?proposal=P0000000000")
        assert hidden.status_code == unknown.status_code == 404
        assert f"No proposal &#39;{seeded['proposal']}&#39;" in hidden.text
        assert "No proposal &#39;P0000000000&#39;" in unknown.text
        assert A not in (await client.get("/audit")).text
        assert seeded["proposal"] not in (await client.get("/proposals")).text
        inbox_before = await rig.inbox_rows()
        say = await client.post("/say", data={"text": "hi", "conversation": A, "csrf": csrf})
        decide = await client.post(
            "/decide", data={"proposal": seeded["proposal"], "action": "approve", "csrf": csrf}
        )
        assert (say.status_code, decide.status_code) == (404, 404)
        assert await rig.inbox_rows() == inbox_before


async def test_a_member_sees_but_only_the_route_s_approvers_decide(rig: PageRig) -> None:
    seeded = await seed(rig)
    async with rig.signed_in("cy", PASSWORD) as (client, csrf):
        assert (await client.get(f"/c/{A}")).status_code == 200
        assert (await client.get(f"/files/{seeded['file']}")).status_code == 200
        refused = await client.post(
            "/decide", data={"proposal": seeded["proposal"], "action": "approve", "csrf": csrf}
        )
        assert refused.status_code == 403
    async with rig.signed_in("root", PASSWORD) as (client, csrf):  # sees it, may not decide
        refused = await client.post(
            "/decide", data={"proposal": seeded["proposal"], "action": "approve", "csrf": csrf}
        )
        assert refused.status_code == 403
    async with rig.signed_in("ann", PASSWORD) as (client, csrf):
        approved = await client.post(
            "/decide", data={"proposal": seeded["proposal"], "action": "approve", "csrf": csrf}
        )
        assert approved.status_code == 303
    clicks = [(k, c) for k, c, _ in await rig.inbox_rows() if k == "click"]
    assert clicks == [("click", A)]


async def test_live_updates_tell_only_of_conversations_the_person_sees(rig: PageRig) -> None:
    await seed(rig)
    async with rig.signed_in("bo", PASSWORD) as (client, _):
        cookie = client.cookies["mlops_session"]
    heard = await changes_heard(rig, cookie, [A, DM, B])
    assert heard == [B]


async def changes_heard(rig: PageRig, cookie: str, publish: list[str]) -> list[str]:
    """The conversations `/events` names to this session while `publish` changes happen."""
    scope = {
        "type": "http", "method": "GET", "path": "/events", "raw_path": b"/events",
        "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
        "headers": [(b"cookie", f"mlops_session={cookie}".encode()), (b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    body = bytearray()
    connected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the browser never leaves
        return {}

    async def send(message: dict[str, Any]) -> None:
        body.extend(message.get("body", b""))
        if b"connected" in body:
            connected.set()

    app = asyncio.create_task(rig.page.app()(scope, receive, send))
    try:
        await asyncio.wait_for(connected.wait(), 10)
        for conversation in publish:
            rig.hub.publish(conversation, "message")
        async with asyncio.timeout(10):
            while f'"{publish[-1]}"'.encode() not in body:
                await asyncio.sleep(0.01)
    finally:
        app.cancel()
        await asyncio.gather(app, return_exceptions=True)
    lines = [ln for ln in body.decode().splitlines() if ln.startswith("data: ")]
    return [json.loads(ln.removeprefix("data: "))["conversation"] for ln in lines]
