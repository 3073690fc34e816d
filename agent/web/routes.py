"""The signed-in page: threads, writing to the agent, Approve/Reject, files, live updates,
the audit trail, sweeps and proposals.

Writing and clicking go through the web bridge into the chat intake, the door
every chat uses; an Approve or Reject from someone who may not decide that
proposal is refused here, and would be again by the approvals step and the
skill's gate. A conversation the viewer may not see (`visibility`) answers 404
everywhere, as one that does not exist.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from agent.web.guard import SESSION_COOKIE, Guard, Viewer, field, read_form, viewer
from agent.web.markup import IMAGE_TYPES, is_image
from agent.web.state import PageState, page_of
from core.ledger import decision_refusal
from mcp_servers.registry import sweep_views

MAX_MESSAGE_CHARS = 8000
KEEPALIVE_S = 15.0
AUDIT_LIMIT = 2000


def thread_url(key: str) -> str:
    return "/c/" + quote(key, safe=":/@")


async def may_see(request: Request, conversation: str | None) -> bool:
    return await page_of(request).visibility.may_see(viewer(request), conversation)


async def threads_for(request: Request) -> list[Any]:
    page = page_of(request)
    found = await page.timeline.threads(viewer(request).id)
    shown = await page.visibility.visible(viewer(request), [t.key for t in found])
    return [t for t in found if t.key in shown]


async def index(request: Request) -> Response:
    return await shell(request, None)


async def thread(request: Request) -> Response:
    return await shell(request, request.path_params["key"])


async def shell(request: Request, key: str | None) -> Response:
    page, me = page_of(request), viewer(request)
    found = await page.timeline.thread(me.id, key) if key else None
    if key and (found is None or not await may_see(request, key)):
        return page.render(request, "missing.html", 404, key=key)
    if key:
        await page.timeline.seen(me.id, key)
    return page.render(
        request,
        "threads.html",
        threads=await threads_for(request),
        thread=found,
        current=key,
        notices=await page.transcript.notices(),
        thread_url=thread_url,
    )


async def list_part(request: Request) -> Response:
    current = request.query_params.get("current")
    return page_of(request).render(
        request,
        "_thread_list.html",
        threads=await threads_for(request),
        current=current,
        thread_url=thread_url,
    )


async def thread_part(request: Request) -> Response:
    page, me, key = page_of(request), viewer(request), request.path_params["key"]
    found = await page.timeline.thread(me.id, key)
    if found is None or not await may_see(request, key):
        return PlainTextResponse(f"no conversation {key!r}", 404)
    await page.timeline.seen(me.id, key)
    return page.render(request, "_thread_body.html", thread=found, thread_url=thread_url)


async def say(request: Request) -> Response:
    page, me, form = page_of(request), viewer(request), await read_form(request)
    assert form is not None  # the guard read it
    text, key = field(form, "text").strip(), field(form, "conversation") or None
    if not text:
        return answer(request, 400, "Write something first.")
    if len(text) > MAX_MESSAGE_CHARS:
        return answer(request, 413, f"Too long: at most {MAX_MESSAGE_CHARS} characters.")
    if key is not None and (
        await page.timeline.thread(me.id, key) is None or not await may_see(request, key)
    ):
        return answer(request, 404, f"No conversation {key!r}.")
    key = await page.bridge.say(me.id, text, key)
    return answer(request, 200, "sent", thread_url(key))


async def decide(request: Request) -> Response:
    page, me, form = page_of(request), viewer(request), await read_form(request)
    assert form is not None
    proposal, action = field(form, "proposal"), field(form, "action")
    if action not in ("approve", "reject"):
        return answer(request, 400, f"Unknown action {action!r}: approve or reject.")
    card = await page.timeline.card_message(proposal)
    if card is None or card.conversation is None or not await may_see(request, card.conversation):
        return answer(request, 404, f"No proposal card {proposal!r}.")
    back = thread_url(card.conversation)
    if not me.approver:
        # A security boundary: only approvers decide (the approvals step and the
        # skill's gate check the same list again).
        return answer(
            request, 403, f"Refused: {me.name} is not an approver, so cannot {action}.", back
        )
    found = await asyncio.to_thread(page.ledger.proposal, proposal)
    who = page.site.deciders(found) if found is not None else None
    if (
        found is not None
        and who is not None
        and decision_refusal(found, me.id, deciders=who.people) is not None
    ):
        # The one rule the approvals step and the gate ask too (core.ledger.rule): who,
        # here; where and when are the approvals step's, once the click is a turn.
        return answer(
            request,
            403,
            f"Refused: only {who.describe()} may {action} proposal {proposal}.",
            back,
        )
    if card.channel is None or card.ts is None:
        return answer(request, 409, "This card was never posted to a chat.", back)
    await page.bridge.click(me.id, action, proposal, card.channel, card.ts)
    return answer(request, 200, f"{action.capitalize()} sent.", back)


async def file(request: Request) -> Response:
    page = page_of(request)
    message = await page.transcript.message(request.path_params["id"])
    if message is None or message.kind != "upload" or message.path is None:
        return PlainTextResponse("no such file", 404)
    if not await may_see(request, message.conversation):
        return PlainTextResponse("no such file", 404)
    path = Path(message.path).resolve()
    # Only what a skill wrote into the attachments folder, as the upload step checks.
    if not path.is_relative_to(page.attachments) or not path.is_file():
        return PlainTextResponse("no such file", 404)
    media = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    disposition = "inline" if is_image(str(path)) else "attachment"
    return FileResponse(path, media_type=media, content_disposition_type=disposition)


async def events(request: Request) -> Response:
    stream = _changes(page_of(request), viewer(request), request.cookies.get(SESSION_COOKIE))
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _changes(page: PageState, me: Viewer, token: str | None) -> AsyncIterator[str]:
    """The server-sent events of one stream: the changes this viewer may hear."""
    shown: dict[str | None, bool] = {}  # per stream: whose changes this viewer may hear
    with page.hub.subscribe() as changes:
        yield "retry: 1000\n: connected\n\n"
        while True:
            try:
                change = await asyncio.wait_for(changes.get(), KEEPALIVE_S)
            except TimeoutError:
                if await page.sessions.get(token) is None:
                    return  # signed out meanwhile
                yield ": keep-alive\n\n"
                continue
            if change is None:
                return  # the service is stopping
            if change.conversation not in shown:
                shown[change.conversation] = await page.visibility.may_see(me, change.conversation)
            if not shown[change.conversation]:
                continue
            data = {"conversation": change.conversation, "what": change.what}
            yield f"data: {json.dumps(data)}\n\n"


async def audit(request: Request) -> Response:
    page, me, query = page_of(request), viewer(request), request.query_params
    job, conversation = query.get("job") or None, query.get("conversation") or None
    proposal = query.get("proposal") or None
    form: dict[str, Any] = {
        "job": job or "",
        "conversation": conversation or "",
        "proposal": proposal or "",
    }
    found = await asyncio.to_thread(page.ledger.proposal, proposal) if proposal else None
    if proposal and (found is None or not await may_see(request, found.conversation)):
        # Hidden or unknown: the same answer, so the page says nothing of what it hides.
        error = f"No proposal {proposal!r}."
        return page.render(
            request, "audit.html", 404, rows=[], cut=0, error=error, **form,
            thread_url=thread_url,
        )  # fmt: skip
    named = found.conversation if found else conversation or (f"job:{job}" if job else None)
    if named and not await may_see(request, named):
        return page.render(request, "missing.html", 404, key=named)
    asked = found.conversation if found else conversation
    rows = await asyncio.to_thread(_audit_rows, page, job, asked, proposal)
    shown = await page.visibility.visible(me, {r.conversation for r in rows})
    # A row of no conversation (the service's own) is for admins.
    rows = [r for r in rows if r.conversation in shown if r.conversation or me.admin]
    return page.render(
        request,
        "audit.html",
        rows=rows[-AUDIT_LIMIT:],
        cut=max(0, len(rows) - AUDIT_LIMIT),
        error=None,
        **form,
        thread_url=thread_url,
    )


async def sweeps(request: Request) -> Response:
    page = page_of(request)
    views = await asyncio.to_thread(sweep_views, page.settings.state_dir)
    shown = await page.visibility.visible(viewer(request), [f"sweep:{v.record.id}" for v in views])
    views = [v for v in views if f"sweep:{v.record.id}" in shown]
    return page.render(request, "sweeps.html", sweeps=views)


async def proposals(request: Request) -> Response:
    page = page_of(request)
    cards = await page.timeline.cards()
    shown = await page.visibility.visible(viewer(request), [c.conversation for c in cards])
    return page.render(
        request,
        "proposals.html",
        cards=[c for c in cards if c.conversation is not None and c.conversation in shown],
        thread_url=thread_url,
    )


def answer(request: Request, status: int, message: str, url: str | None = None) -> Response:
    """JSON for the page's script; a redirect back (or a plain error) without it."""
    if "application/json" in request.headers.get("accept", ""):
        body: dict[str, Any] = {"ok": status < 400, "message": message}
        if url:
            body["url"] = url
        return JSONResponse(body, status)
    if status < 400 and url:
        return RedirectResponse(url, 303)
    return PlainTextResponse(message, status)


def routes(guard: Guard) -> list[Route]:
    """The signed-in page's routes: a page view (a GET a person opens) is redirected to
    sign-in without a session; the rest answer 401."""

    def signed(handler: Any, page_view: bool = False) -> Any:
        return guard.signed_in(handler, page=page_view)

    return [
        Route("/", signed(index, True), methods=["GET"]),
        Route("/c/{key:path}", signed(thread, True), methods=["GET"]),
        Route("/part/threads", signed(list_part), methods=["GET"]),
        Route("/part/thread/{key:path}", signed(thread_part), methods=["GET"]),
        Route("/say", signed(say), methods=["POST"]),
        Route("/decide", signed(decide), methods=["POST"]),
        Route("/files/{id:int}", signed(file), methods=["GET"]),
        Route("/events", signed(events), methods=["GET"]),
        Route("/audit", signed(audit, True), methods=["GET"]),
        Route("/sweeps", signed(sweeps, True), methods=["GET"]),
        Route("/proposals", signed(proposals, True), methods=["GET"]),
    ]


def _audit_rows(
    page: PageState, job: str | None, conversation: str | None, proposal: str | None
) -> list[Any]:
    rows = page.ledger.audit_rows(job=job, conversation=conversation)
    if proposal is not None:
        rows = [r for r in rows if proposal in r.detail_json]
    return rows
