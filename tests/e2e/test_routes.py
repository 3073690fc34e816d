"""Issue 13's site, end to end: two customers' own channels and approvers, job owners.

Real opencode, the real git skill over a bare remote, the scripted model and
the fake Slack. Customer A's and customer B's jobs land in their own channels;
B's approver cannot approve A's change (the remote stays as it was), A's
approver can; an unrouted job lands in the default channel; the turn the
model sees names a mapped owner's mention and an unmapped owner only by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agent.service import Service
from agent.settings import SettingsError, load_settings
from tests.e2e.harness import NOTIFY, post_event, service_settings, serving
from tests.e2e.oom_fix import (
    CONFIG,
    PROPOSAL_ID,
    REPO,
    TRAIN_YAML,
    last_tool,
    propose,
    turn_id_of,
)
from tests.e2e.remote import Remote, seed_remote
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.fakes.slack import FakeSlack, Post
from tests.git.conftest import git

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ANN, BO = "UANN", "UBO"  # A's approver, B's approver
CHANNEL_A, CHANNEL_B = "CCUSTA", "CCUSTB"
WAIT = 90.0
ROUTES = f"""\
people:
  ann: {ANN}
routes:
  - name: customer-a
    jobs: ["customer-a/**"]
    channel: {CHANNEL_A}
    approvers: [{ANN}]
  - name: customer-b
    jobs: ["customer-b/**"]
    channel: {CHANNEL_B}
    approvers: [{BO}]
"""


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Remote:
    return seed_remote(tmp_path_factory.mktemp("git"), {CONFIG: TRAIN_YAML})


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    tmp_path_factory: pytest.TempPathFactory,
    remote: Remote,
    model: ScriptedModel,
    slack: FakeSlack,
) -> AsyncIterator[Service]:
    state = tmp_path_factory.mktemp("state")
    routes = state.parent / "routes.yaml"
    routes.write_text(ROUTES)
    repos = {REPO: {"path": str(remote.clone), "allow": ["configs/**"]}}
    settings = service_settings(
        state,
        model.base_url,
        slack.api_url,
        allowed_users=f"{ANN},{BO}",
        routes=routes,
        git_repos=json.dumps(repos),
    )
    async with serving(settings, slack) as svc:
        yield svc


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


def agent(request: ModelRequest) -> Reply:
    """Says where each crash landed; proposes when asked; applies once told it was approved."""
    text, tool = request.last_user_text, last_tool(request)
    if tool is not None:
        name, result = tool
        return Reply.text(f"{name} said: {result[:300]}")
    if approved := re.search(r"\[supervisor\] proposal (P[0-9a-f]{10}) approved", text):
        return Reply.tool_calls(
            ("git_apply_change", {"turn_id": turn_id_of(request), "proposal_id": approved[1]})
        )
    if "fix the image size" in text:
        return propose(turn_id_of(request), "image_size: 1280", "image_size: 640", "OOM at 1280")
    if job := re.search(r"event crashed \S+ job=(\S+)", text):
        return Reply.text(f"Crashed: {job[1]}")
    return Reply.text("<silent/>")


async def crash(service: Service, slack: FakeSlack, job: str, **event: object) -> Post:
    r = await post_event(service.url, service.secret, type="crashed", job=job, **event)
    assert r.status_code == 202
    return await slack.wait_for_post(lambda p: p.text == f"Crashed: {job}", timeout=WAIT)


async def test_each_customer_s_crash_lands_in_its_own_channel(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.handler = agent
    a = await crash(service, slack, "customer-a/weld-v4")
    b = await crash(service, slack, "customer-b/pcb-v2")
    other = await crash(service, slack, "internal/resnet")

    assert (a.channel, b.channel, other.channel) == (CHANNEL_A, CHANNEL_B, NOTIFY)


async def test_only_the_route_s_approver_can_approve_its_change(
    service: Service, model: ScriptedModel, slack: FakeSlack, remote: Remote
) -> None:
    model.handler = agent
    root = await crash(service, slack, "customer-a/seam-v1")
    await slack.send_message(
        ANN, "fix the image size", channel=CHANNEL_A, channel_type="channel", thread_ts=root.ts
    )
    card = await slack.wait_for_post(
        lambda p: p.thread_ts == root.ts and bool(p.blocks), timeout=WAIT
    )
    proposal = PROPOSAL_ID.search(card.text)
    assert proposal, card.text
    before = remote.head()

    # B's approver says yes in A's thread: refused before any confirmation is made.
    asked = len(model.requests)
    await slack.send_message(
        BO, "kör på", channel=CHANNEL_A, channel_type="channel", thread_ts=root.ts
    )
    request = await model.wait_for_requests(asked + 1, WAIT)
    assert f"by <@{BO}> refused" in request.last_user_text
    assert f"proposal {proposal[0]} approved" not in request.last_user_text
    assert service.ledger.decision_of(proposal[0]) is None
    assert remote.head() == before

    # A's approver says yes: the supervisor confirms, the skill applies.
    await slack.send_message(
        ANN, "kör på", channel=CHANNEL_A, channel_type="channel", thread_ts=root.ts
    )
    applied = await slack.wait_for_post(
        lambda p: p.text.startswith("git_apply_change said"), timeout=WAIT
    )
    assert '"confirmed_by":"UANN"' in applied.text.replace(" ", "")
    assert remote.head() != before
    assert "+image_size: 640" in git(remote.bare, "show", "main", "--", CONFIG)


async def test_the_model_sees_a_mapped_owner_s_mention_and_an_unmapped_one_by_name(
    service: Service, model: ScriptedModel, slack: FakeSlack
) -> None:
    model.handler = agent
    await crash(service, slack, "customer-a/mapped", owner="ann")
    mapped = next(r for r in model.requests if "customer-a/mapped" in r.last_user_text)
    await crash(service, slack, "customer-b/unmapped", owner="zed")
    unmapped = next(r for r in model.requests if "customer-b/unmapped" in r.last_user_text)

    assert f"owner ann is <@{ANN}> in chat" in mapped.last_user_text
    assert "owner zed has no chat id" in unmapped.last_user_text
    assert "<@zed>" not in unmapped.last_user_text and "<@" not in unmapped.last_user_text


async def test_an_invalid_routes_file_stops_the_service_naming_file_route_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES.replace(f"approvers: [{BO}]", "approvers: [UZED]"))
    monkeypatch.setenv("MLOPS_ALLOWED_USERS", f"{ANN},{BO}")
    monkeypatch.setenv("MLOPS_ROUTES", str(routes))
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    assert f"{routes}: route 'customer-b': approvers: UZED not in MLOPS_ALLOWED_USERS" in str(
        err.value
    )
