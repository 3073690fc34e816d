"""The signed-in page over real parts: every route behind the session, every form behind
its CSRF token, words and clicks through the chat intake, and only approvers deciding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from agent.web import WEB_CHANNEL
from tests.web.rig import PageRig, page_rig

JOB = "job:cust-b/x"


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[PageRig]:
    async with page_rig(tmp_path) as r:
        yield r


def sample(path: str) -> str:
    return path.replace("{key:path}", JOB).replace("{id:int}", "1")


async def test_every_route_needs_a_session(rig: PageRig) -> None:
    proposal = await rig.proposal_card(JOB)
    checked = []
    async with rig.client() as anonymous:
        for route in rig.page.app().routes:
            path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
            if path.startswith(("/login", "/static")):
                continue  # signing in itself; the same stylesheet and script for everyone
            for method in sorted(methods - {"HEAD"}):
                data = {"text": "hi", "conversation": JOB, "proposal": proposal.id,
                        "action": "approve"}  # fmt: skip
                answer = await anonymous.request(
                    method, sample(path), data=data if method == "POST" else None
                )
                to_sign_in = answer.status_code == 303 and answer.headers["location"].startswith(
                    "/login"
                )
                assert answer.status_code == 401 or to_sign_in, (method, path, answer.status_code)
                checked.append(f"{method} {path}")
    assert len(checked) >= 12, checked
    assert await rig.inbox_rows() == []


async def test_a_post_without_its_csrf_token_changes_nothing(rig: PageRig) -> None:
    proposal = await rig.proposal_card(JOB)
    async with rig.signed_in("alice") as (client, csrf):
        for token in (None, "", "forged", csrf + "x"):
            form = {"text": "hello", "conversation": JOB}
            decide = {"proposal": proposal.id, "action": "approve"}
            if token is not None:
                form["csrf"] = decide["csrf"] = token
            assert (await client.post("/say", data=form)).status_code == 403
            assert (await client.post("/decide", data=decide)).status_code == 403
        assert await rig.inbox_rows() == []
        # With the token, the same form goes through.
        answer = await client.post(
            "/say", data={"text": "hello", "conversation": JOB, "csrf": csrf}
        )
        assert answer.status_code == 303
    assert [(k, c) for k, c, _ in await rig.inbox_rows()] == [("chat", JOB)]


async def test_words_go_to_the_thread_as_the_web_user_even_with_no_chat_thread(
    rig: PageRig,
) -> None:
    await rig.inbox.put_event("e1", {"type": "crashed", "job": "cust-b/x"})  # no post yet
    async with rig.signed_in("carol") as (client, csrf):
        answer = await client.post(
            "/say",
            data={"text": "why did it crash?", "conversation": JOB, "csrf": csrf},
            headers={"accept": "application/json"},
        )
    assert answer.status_code == 200 and answer.json()["url"] == f"/c/{JOB}"
    (event, (kind, conversation, payload)) = await rig.inbox_rows()
    assert (kind, conversation) == ("chat", JOB)
    assert payload["user"] == "web:carol" and payload["text"] == "why did it crash?"


async def test_a_new_thread_is_a_conversation_of_its_own_on_the_page(rig: PageRig) -> None:
    async with rig.signed_in("alice") as (client, csrf):
        answer = await client.post("/say", data={"text": "what is running?", "csrf": csrf})
    assert answer.status_code == 303
    ((kind, conversation, payload),) = await rig.inbox_rows()
    assert conversation.startswith(f"chat:{WEB_CHANNEL}:") and kind == "chat"
    assert answer.headers["location"] == f"/c/{conversation}"
    conv = await rig.conversations.get(conversation)
    assert (conv.channel, conv.thread_ts) == (WEB_CHANNEL, payload["ts"])


async def test_words_are_refused_when_empty_too_long_or_to_no_thread(rig: PageRig) -> None:
    async with rig.signed_in("alice") as (client, csrf):
        for data, status in (
            ({"text": "  "}, 400),
            ({"text": "x" * 8001}, 413),
            ({"text": "hi", "conversation": "job:nobody"}, 404),
        ):
            answer = await client.post("/say", data={**data, "csrf": csrf})
            assert answer.status_code == status, (data, answer.text)
    assert await rig.inbox_rows() == []


async def test_only_an_approver_s_click_reaches_the_intake(rig: PageRig) -> None:
    proposal = await rig.proposal_card(JOB)
    card = await rig.page.timeline.card_message(proposal.id)
    assert card is not None and card.channel == WEB_CHANNEL
    decide = {"proposal": proposal.id, "action": "approve"}
    async with rig.signed_in("carol") as (client, csrf):
        refused = await client.post(
            "/decide", data={**decide, "csrf": csrf}, headers={"accept": "application/json"}
        )
    assert refused.status_code == 403
    assert refused.json()["message"] == "Refused: carol is not an approver, so cannot approve."
    assert await rig.inbox_rows() == []

    async with rig.signed_in("alice") as (client, csrf):
        accepted = await client.post("/decide", data={**decide, "csrf": csrf})
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/c/{JOB}"
    ((kind, conversation, payload),) = await rig.inbox_rows()
    assert (kind, conversation) == ("click", JOB)
    assert payload == {
        "user": "web:alice",
        "action": "approve",
        "proposal": proposal.id,
        "channel": WEB_CHANNEL,
        "card_ts": card.ts,
    }


async def test_deciding_an_unknown_proposal_or_action_is_a_clear_error(rig: PageRig) -> None:
    proposal = await rig.proposal_card(JOB)
    async with rig.signed_in("alice") as (client, csrf):
        unknown = await client.post(
            "/decide", data={"proposal": "Pdeadbeef00", "action": "approve", "csrf": csrf}
        )
        assert unknown.status_code == 404 and "No proposal card 'Pdeadbeef00'" in unknown.text
        bad = await client.post(
            "/decide", data={"proposal": proposal.id, "action": "merge", "csrf": csrf}
        )
        assert bad.status_code == 400 and "approve or reject" in bad.text
    assert await rig.inbox_rows() == []


async def test_the_thread_shows_the_card_and_the_agent_s_markdown_safely(rig: PageRig) -> None:
    await rig.outbox.reply(JOB, "**Crashed** <script>alert(1)</script> [x](javascript:alert(1))")
    proposal = await rig.proposal_card(JOB)
    async with rig.signed_in("alice") as (client, _):
        page = await client.get(f"/c/{JOB}")
    assert page.status_code == 200
    html = page.text
    assert "<strong>Crashed</strong>" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    assert f'data-proposal="{proposal.id}"' in html
    assert '<span class="del">-image_size: 1280</span>' in html
    assert '<span class="add">+image_size: 640</span>' in html
    assert 'value="approve"' in html and "expires" in html


async def test_every_answer_carries_a_strict_content_policy(rig: PageRig) -> None:
    async with rig.client() as client:
        for path in ("/login", "/static/app.js", "/"):
            headers = (await client.get(path)).headers
            policy = headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert "default-src 'none'" in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"


async def test_only_files_in_the_attachments_folder_are_served(
    rig: PageRig, tmp_path: Path
) -> None:
    inside = tmp_path / "attachments" / "loss.png"
    inside.parent.mkdir()
    inside.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    outside = tmp_path / "ledger.key"
    await rig.outbox.upload(JOB, inside, title="loss.png")
    await rig.outbox.upload(JOB, outside, title="key")
    async with rig.signed_in("alice") as (client, _):
        good = await client.get("/files/2")  # message 1 started the thread
        assert good.status_code == 200 and good.headers["content-type"] == "image/png"
        assert good.content == inside.read_bytes()
        assert (await client.get("/files/3")).status_code == 404
        assert (await client.get("/files/1")).status_code == 404  # not an upload
        page = await client.get(f"/c/{JOB}")
        assert '<img src="/files/2"' in page.text
