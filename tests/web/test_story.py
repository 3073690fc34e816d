"""Issue 15's acceptance in a real browser: the seed's story through the web page.

The whole service runs with the web page as its chat (no Slack anywhere):
real opencode, the real git skill with a bare remote, the real local
scheduler, the embedded MLflow server; only the model is scripted. Headless
Chromium plays the people: alice (an approver), carol (may talk, not approve),
and ops (no password: a one-time link). The screenshots the README shows are
taken here.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from agent import cli
from agent.engine.hub import Change
from agent.service import Service
from tests.aiqu.conftest import kill_leftovers
from tests.conftest import ROOT
from tests.e2e.harness import eventually, post_event, service_settings
from tests.e2e.oom_fix import (
    CONFIG,
    REPO,
    TRACEBACK,
    TRAIN_YAML,
    Words,
    fixing_agent,
    jobs_named,
    last_tool,
    submit,
)
from tests.e2e.remote import Remote, seed_remote
from tests.e2e.skills_fixtures import log_runs
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.git.conftest import git
from tests.web.browser import LAPTOP, PHONE, sign_in
from tests.web.rig import quick_hash

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

JOB = "cust-b/pcb-oom"
THREAD = f"job:{JOB}"
APPROVED = re.compile(r"\[supervisor\] proposal (P[0-9a-f]{10}) approved by <@web:alice>")
PASSWORDS = {"alice": "alice-pass-1", "carol": "carol-pass-1"}
USERS = {
    "alice": {"password": quick_hash(PASSWORDS["alice"]), "approver": True},
    "carol": {"password": quick_hash(PASSWORDS["carol"]), "approver": False},
    "ops": {"password": None, "approver": False},  # signs in by a one-time link only
}
SCREENSHOTS = ROOT / "docs" / "web"
WAIT = 90.0  # seconds for a turn through opencode on a busy two-core machine
WAIT_MS = WAIT * 1000


# -- the real things around the service -------------------------------------------------


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Remote:
    return seed_remote(tmp_path_factory.mktemp("git"), {CONFIG: TRAIN_YAML})


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("state")
    yield path
    kill_leftovers(path)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(state: Path, remote: Remote, model: ScriptedModel) -> AsyncIterator[Service]:
    repos = {REPO: {"path": str(remote.clone), "branch": "main", "allow": ["configs/**"]}}
    settings = service_settings(
        state,
        model.base_url,
        None,
        # No Slack at all: the web page is the chat, as on a fresh machine.
        slack_bot_token=None,
        slack_app_token=None,
        slack_signing_secret=None,
        notify_channel=None,
        allowed_users="",
        web_users=json.dumps(USERS),
        git_repos=json.dumps(repos),
        mlflow_tracking_uri=None,  # the embedded MLflow server, for the plot
    )
    assert settings.chat_kind == "web"
    svc = Service(settings)
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


# -- what the service recorded -------------------------------------------------------------


def inbox_rows(state: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(state / "service.sqlite")
    try:
        return conn.execute("SELECT kind, dedupe_key FROM inbox ORDER BY id").fetchall()
    finally:
        conn.close()


async def session_cookie(page: Any) -> str:
    cookies = await page.context.cookies()
    return next(c["value"] for c in cookies if c["name"] == "mlops_session")


# -- the story ------------------------------------------------------------------------------


@dataclass
class Story:
    alice: Any  # Playwright pages
    carol: Any
    phone: Any
    proposal_id: str
    refs_before: str
    refs_after_carol: str
    carol_refusal: str
    carol_yes_request: ModelRequest
    loaded_at: float


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def story(
    service: Service, model: ScriptedModel, browser: Any, state: Path, remote: Remote
) -> Story:
    model.reset()
    submit(state, JOB, "import sys; print('CUDA out of memory'); sys.exit(1)")
    await eventually(lambda: jobs_named(state, JOB)[-1].state.value == "failed", WAIT)
    model.handler = fixing_agent(
        model,
        JOB,
        APPROVED,
        Words(
            crashed=f"**Crashed**: {JOB} ran out of GPU memory at epoch 3. The config has"
            " `image_size: 1280`; the last good run used 640.",
            proposed="I propose setting image_size back to 640, then requeueing.",
        ),
    )

    alice = await sign_in(browser, service.url, "alice", PASSWORDS["alice"])
    loaded_at = await alice.evaluate("window.mlopsPage.loadedAt")

    # A signed crash event: the job's thread appears in alice's list, live.
    response = await post_event(
        service.url, service.secret, type="crashed", job=JOB, epoch=3, traceback=TRACEBACK
    )
    assert response.status_code == 202
    link = alice.locator(f'.thread-list a[data-key="{THREAD}"]')
    await link.wait_for(timeout=WAIT_MS)
    await alice.locator(".thread-list", has_text="ran out of GPU memory").wait_for(timeout=WAIT_MS)
    await link.click()
    await alice.locator(".msg.agent", has_text="ran out of GPU memory").wait_for()

    # The person asks for the fix in the thread; the card comes, live, with the diff.
    await alice.fill("#say textarea", "fix the image size and requeue")
    await alice.press("#say textarea", "Enter")
    card = alice.locator(".card[data-proposal]")
    await card.wait_for(timeout=WAIT_MS)
    proposal_id = await card.get_attribute("data-proposal")
    assert proposal_id
    refs_before = remote.refs()

    # The card at both sizes, while it waits for a decision.
    phone = await sign_in(browser, service.url, "alice", PASSWORDS["alice"], PHONE)
    await phone.goto(f"{service.url}/c/{THREAD}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await card.screenshot(path=SCREENSHOTS / "card-1280.png")
    await phone.locator(".card[data-proposal]").screenshot(path=SCREENSHOTS / "card-390.png")

    # carol may talk but not approve: her Approve is refused, and her "kör på" is only words.
    carol = await sign_in(browser, service.url, "carol", PASSWORDS["carol"])
    await carol.goto(f"{service.url}/c/{THREAD}")
    await carol.click(f'.card[data-proposal="{proposal_id}"] button.approve')
    note = carol.locator(".card .form-note.bad")
    await note.wait_for()
    carol_refusal = await note.inner_text()
    requests_before = len(model.requests)
    await carol.fill("#say textarea", "kör på")
    await carol.press("#say textarea", "Enter")
    carol_yes = await model.wait_for_requests(requests_before + 1, WAIT)
    await eventually(lambda: not _running(state), WAIT)
    refs_after_carol = remote.refs()

    # alice approves with the button: the commit, the requeue, the reply, the card's outcome.
    await alice.click(f'.card[data-proposal="{proposal_id}"] button.approve')
    await alice.locator(".msg.agent", has_text="Done: committed").wait_for(timeout=WAIT_MS)
    await alice.locator(".card .outcome", has_text="Approved by web:alice").wait_for(
        timeout=WAIT_MS
    )
    await phone.locator(".card .outcome").wait_for(timeout=WAIT_MS)
    # The thread's end in the pictures: alice's click scrolled her view up to the card,
    # and a thread follows new messages only for a reader who is at its end.
    for page in (alice, phone):
        await page.locator("#thread-body").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    await alice.screenshot(path=SCREENSHOTS / "thread-1280.png")
    await phone.screenshot(path=SCREENSHOTS / "thread-390.png")
    return Story(
        alice,
        carol,
        phone,
        proposal_id,
        refs_before,
        refs_after_carol,
        carol_refusal,
        carol_yes,
        loaded_at,
    )


def _running(state: Path) -> bool:
    conn = sqlite3.connect(state / "service.sqlite")
    try:
        return bool(conn.execute("SELECT 1 FROM turns WHERE ended IS NULL").fetchone())
    finally:
        conn.close()


async def test_the_seed_story_through_the_page(
    story: Story, service: Service, remote: Remote, state: Path
) -> None:
    page = story.alice
    # The job's thread: the crash event (collapsed), the diagnosis, the request, the card.
    events = page.locator(".inputs details").first
    assert not await events.get_attribute("open")
    assert "crashed · epoch 3" in await events.locator("summary").inner_text()
    assert "CUDA out of memory" in await events.locator("pre").first.text_content()
    bold = page.locator(".msg.agent .md strong", has_text="Crashed")  # Markdown rendered
    assert await bold.count() == 1
    mine = page.locator(".msg.person.mine .text", has_text="fix the image size and requeue")
    assert await mine.count() == 1

    # The card shows the ledger's diff, line for line.
    proposal = service.ledger.proposal(story.proposal_id)
    assert proposal is not None
    diff = proposal.payload["diff"]
    assert "-image_size: 1280\n+image_size: 640\n" in diff
    shown = await page.locator(f'.card[data-proposal="{story.proposal_id}"] .diff').inner_text()
    assert shown.strip("\n") == diff.strip("\n")

    # carol's Approve was refused and changed nothing; her words confirmed nothing.
    assert story.carol_refusal == "Refused: carol is not an approver, so cannot approve."
    assert story.refs_after_carol == story.refs_before
    assert "[supervisor]" not in story.carol_yes_request.last_user_text
    assert "<@web:carol>" in story.carol_yes_request.last_user_text

    # alice's approval: exactly the diff on the remote, confirmed by web:alice.
    head = remote.head()
    pushed = git(remote.bare, "diff", "--src-prefix=a/", "--dst-prefix=b/", f"{head}^", head)
    assert pushed == diff
    trailers = git(remote.bare, "log", "-1", "--format=%(trailers)", head)
    assert "Confirmed-by: web:alice" in trailers
    decision = service.ledger.decision_of(story.proposal_id)
    assert decision is not None and decision.person == "web:alice"

    # The job runs again, the agent said so, and the card shows the outcome, not buttons.
    assert [j.attempt for j in jobs_named(state, JOB)] == [1, 2]
    done = page.locator(".msg.agent .md", has_text="Done: committed")
    assert await done.inner_text() == f"Done: committed {head[:8]} and requeued {JOB} (attempt 2)."
    card = page.locator(f'.card[data-proposal="{story.proposal_id}"]')
    assert f"Approved by web:alice — applied {head}" in await card.locator(".outcome").inner_text()
    assert await card.locator("button").count() == 0

    # All of it arrived live: the page alice signed in to was never reloaded.
    await page.goto(f"{service.url}/")
    assert await page.evaluate("window.mlopsPage.loadedAt") >= story.loaded_at


async def test_a_non_approvers_approve_is_refused_at_every_layer(
    story: Story, service: Service, state: Path
) -> None:
    """The page refused carol's click before the intake: no click item at all. Her
    "kör på" reached the agent as a person's words, and the approvals step made no
    confirmation of it (the skill's gate would refuse one anyway)."""
    clicks = [key for kind, key in inbox_rows(state) if kind == "click"]
    assert clicks == [f"click:{story.proposal_id}:approve:web:alice"]
    rows = service.ledger.audit_rows(conversation=THREAD)
    decided = [(r.actor, r.action) for r in rows if r.action.startswith("proposal.approved")]
    assert decided == [("web:alice", "proposal.approved")]


async def test_two_sessions_see_the_same_update_within_a_second(
    story: Story, service: Service, model: ScriptedModel
) -> None:
    mark = f"epoch 5 done, mark {time.time_ns()}"
    model.handler = lambda r: Reply.text(mark if "event epoch" in r.last_user_text else "")
    watch = "(mark) => !!document.querySelector('#thread-body') &&"
    watch += " document.querySelector('#thread-body').innerText.includes(mark)"
    seen_at = "window.__seenAt"
    for page in (story.alice, story.carol):
        await page.goto(f"{service.url}/c/{THREAD}")
        await page.evaluate(
            """(mark) => { window.__seenAt = null;
                 new MutationObserver(() => {
                   if (!window.__seenAt && document.body.innerText.includes(mark))
                     window.__seenAt = Date.now() / 1000; })
                 .observe(document.body, {subtree: true, childList: true, characterData: true});
               }""",
            mark,
        )
    with service.hub.subscribe() as changes:
        await post_event(service.url, service.secret, type="epoch", job=JOB, epoch=5)
        posted = await _first_message(changes, THREAD)
    for page in (story.alice, story.carol):
        await page.wait_for_function(watch, arg=mark, timeout=WAIT_MS)
    seen = [await page.evaluate(seen_at) for page in (story.alice, story.carol)]
    delays = [s - posted.at for s in seen]
    print(f"\n[figure] transcript write → visible in two sessions: {delays} s")
    assert all(0 <= d < 1.0 for d in delays), delays


async def _first_message(changes: asyncio.Queue[Change | None], conversation: str) -> Change:
    async with asyncio.timeout(WAIT):
        while True:
            change = await changes.get()
            if change and change.conversation == conversation and change.what == "message":
                return change


async def test_a_plot_request_shows_the_image_inline(
    story: Story, service: Service, model: ScriptedModel
) -> None:
    runs = await asyncio.to_thread(log_runs, service.mlflow.uri)
    run = runs["yolo-lr-3e-3"]

    def agent(request: ModelRequest) -> Reply:
        tool = last_tool(request)
        if tool is None:
            return Reply.tool_calls(
                ("mlflow_plot_metrics", {"runs": [run.run_name], "metrics": ["val_loss"]})
            )
        return Reply.text(f"val_loss of {run.run_name}, curve attached")

    model.handler = agent
    page = story.alice
    await page.goto(f"{service.url}/")
    await page.fill("#say-new textarea", f"plot val_loss of {run.run_name}")
    await page.click("#say-new button")
    await page.wait_for_url(re.compile(r"/c/chat:web:[0-9a-f]+$"))
    image = page.locator(".attachment img")
    await image.wait_for(timeout=WAIT_MS)
    await page.wait_for_function(
        "() => { const i = document.querySelector('.attachment img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=WAIT_MS,
    )
    width = await image.evaluate("(i) => i.naturalWidth")
    assert width >= 400  # the drawn figure (800 px wide), not a broken-image icon
    await page.locator(".msg.agent", has_text="curve attached").wait_for(timeout=WAIT_MS)
    src = await image.get_attribute("src")
    assert src and re.fullmatch(r"/files/\d+", src)
    # The file needs a session like everything else.
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(f"{service.url}{src}")).status_code == 401


# -- the boundaries, on the real service ---------------------------------------------------


def _sample_path(path: str) -> str:
    return path.replace("{key:path}", THREAD).replace("{id:int}", "1")


async def test_without_signing_in_nothing_answers_and_the_model_is_not_asked(
    story: Story, service: Service, model: ScriptedModel, state: Path
) -> None:
    assert service.page is not None
    inbox_before, requests_before = inbox_rows(state), len(model.requests)
    checked = []
    # A new connection per request: a refused POST leaves its body unread and the server
    # closes that connection, which a reused one can meet half-way (a ReadError under load).
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=service.url, limits=fresh) as anonymous:
        for route in service.page.app().routes:
            path = getattr(route, "path", "")
            if path.startswith(("/login", "/static")) or not getattr(route, "methods", None):
                continue  # signing in itself, and the same stylesheet and script for all
            for method in sorted(route.methods - {"HEAD"}):
                form = {"text": "apply it now", "conversation": THREAD, "action": "approve",
                        "proposal": story.proposal_id}  # fmt: skip
                response = await anonymous.request(
                    method, _sample_path(path), data=form if method == "POST" else None
                )
                redirected = response.status_code == 303 and response.headers[
                    "location"
                ].startswith("/login")
                assert response.status_code == 401 or redirected, (method, path, response)
                checked.append(f"{method} {path}")
    assert {"GET /", "GET /events", "POST /say", "POST /decide", "GET /audit"} <= set(checked)
    await asyncio.sleep(0.5)
    assert inbox_rows(state) == inbox_before
    assert len(model.requests) == requests_before


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    story: Story, service: Service, model: ScriptedModel, state: Path
) -> None:
    cookie = await session_cookie(story.alice)
    inbox_before, requests_before = inbox_rows(state), len(model.requests)
    async with httpx.AsyncClient(base_url=service.url, cookies={"mlops_session": cookie}) as alice:
        for form in (
            {"text": "hello", "conversation": THREAD},
            {"text": "hello", "conversation": THREAD, "csrf": "forged"},
            {"text": "hello", "conversation": THREAD, "csrf": ""},
        ):
            assert (await alice.post("/say", data=form)).status_code == 403
        decide = {"proposal": story.proposal_id, "action": "reject"}
        assert (await alice.post("/decide", data=decide)).status_code == 403
        assert (await alice.post("/logout", data={})).status_code == 403
        # The session itself is good: the refusals were the token's.
        assert (await alice.get("/part/threads")).status_code == 200
    await asyncio.sleep(0.5)
    assert inbox_rows(state) == inbox_before
    assert len(model.requests) == requests_before


async def test_the_one_time_link_signs_in_once(
    service: Service,
    browser: Any,
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`mlops-agent web-user ops --link`, run beside the service, prints a link it honours."""
    assert service.sign_in_urls == {}  # ops is no new operator: nothing printed at start
    for name, value in (
        ("MLOPS_STATE_DIR", str(state)),
        ("MLOPS_PORT", str(service.settings.port)),
        ("MLOPS_WEB_USERS", json.dumps(USERS)),
    ):
        monkeypatch.setenv(name, value)
    assert cli.main(["web-user", "ops", "--link"]) == 0
    printed = capsys.readouterr().out
    assert "added" not in printed and "updated" not in printed  # ops stays as configured
    url = printed.split()[-1]
    assert url.startswith(f"{service.url}/login/once?token=")
    first = await (await browser.new_context(viewport=LAPTOP)).new_page()
    await first.goto(url)
    await first.wait_for_url(f"{service.url}/")
    assert (await first.locator(".me .who").inner_text()).startswith("ops")

    again = await (await browser.new_context(viewport=LAPTOP)).new_page()
    response = await again.goto(url)
    await again.wait_for_load_state()
    await again.locator("h1", has_text="no longer works").wait_for()
    assert response is not None
    assert "mlops_session" not in {c["name"] for c in await again.context.cookies()}
    after = await again.goto(f"{service.url}/")
    assert after is not None and after.url.startswith(f"{service.url}/login")


async def test_the_session_cookie_is_http_only_and_same_site_strict(story: Story) -> None:
    cookies = {c["name"]: c for c in await story.alice.context.cookies()}
    session = cookies["mlops_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert await story.alice.evaluate("document.cookie") == ""
