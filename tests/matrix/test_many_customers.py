"""Issue 22 over Matrix, against a real Synapse: a write belongs to the route whose paths it
touches. In a thread of the notify room, B's approver asks for a change to a customer-A
path and reacts ✅ on its card: refused, naming who may approve, the remote unchanged; A's
approver's ✅ on the same card commits it. Real opencode and git skill; only the model is
scripted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from agent.service import Service
from tests.aiqu.conftest import kill_leftovers
from tests.e2e.harness import service_settings
from tests.e2e.remote import Remote, seed_remote
from tests.e2e.test_many_customers import A_CONFIG, B_CONFIG, REPO, TRAIN, Agent, at_head
from tests.fakes.model import ScriptedModel
from tests.matrix.conftest import NOTIFY_ALIAS, World
from tests.matrix.people import Event, by

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

WAIT = 90.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def model() -> AsyncIterator[ScriptedModel]:
    async with ScriptedModel() as m:
        yield m


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Remote:
    return seed_remote(tmp_path_factory.mktemp("git"), {A_CONFIG: TRAIN, B_CONFIG: TRAIN})


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(
    world: World, tmp_path_factory: pytest.TempPathFactory, model: ScriptedModel, remote: Remote
) -> AsyncIterator[Service]:
    ann, bob, state = world.ann.user_id, world.bob.user_id, tmp_path_factory.mktemp("state")
    routes = state.parent / "routes.yaml"
    routes.write_text(
        "routes:\n"
        f'  - {{name: customer-a, jobs: ["customer-a/**"], channel: "!a:localhost",'
        f' approvers: ["{ann}"], repos: {{training: ["configs/customer-a/**"]}}}}\n'
        f'  - {{name: customer-b, jobs: ["customer-b/**"], channel: "!b:localhost",'
        f' approvers: ["{bob}"]}}\n'
    )
    settings = service_settings(
        state,
        model.base_url,
        "http://127.0.0.1:9",  # no Slack here
        chat="matrix",
        slack_bot_token=None,
        slack_app_token=None,
        slack_signing_secret=None,
        allowed_users=",".join(sorted(world.allowed)),
        matrix_homeserver=world.synapse.url,
        matrix_user_id=world.bot.user_id,
        matrix_access_token=world.bot.access_token,
        matrix_notify_room=NOTIFY_ALIAS,
        routes=routes,
        git_repos=json.dumps({REPO: {"path": str(remote.clone), "allow": ["configs/**"]}}),
    )
    svc = Service(settings)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()
        kill_leftovers(state)


def in_thread(sender: str, root: str, starts: str) -> Any:
    def check(event: Event) -> bool:
        return by(sender, thread=root)(event) and str(event["content"]["body"]).startswith(starts)

    return check


async def test_b_s_check_on_a_change_to_a_s_path_is_refused_and_a_s_commits_it(
    service: Service, world: World, model: ScriptedModel, remote: Remote
) -> None:
    model.handler = Agent()
    room, bot, ann, bob = world.notify_room, world.bot.user_id, world.ann.user_id, world.bob.user_id
    before = remote.refs()
    root = await world.bob.say(room, f"{bot} fix customer-a's image size", mentions=(bot,))
    card = await world.bob.wait_for(room, in_thread(bot, root, "Proposal P"), WAIT)
    proposal = card["content"]["body"].split("Proposal ", 1)[1][:11]

    await world.bob.react(room, card["event_id"], "✅")
    refusal = await world.bob.wait_for(room, in_thread(bot, root, "approve of proposal"), WAIT)
    assert f"by {bob} refused: only an approver of customer-a ({ann})" in refusal["content"]["body"]
    assert service.ledger.decision_of(proposal) is None and remote.refs() == before

    await world.ann.react(room, card["event_id"], "✅")
    applied = await world.ann.wait_for(room, in_thread(bot, root, "git_apply_change said"), WAIT)
    assert f'"confirmed_by":"{ann}"' in applied["content"]["body"].replace(" ", "")
    assert "image_size: 640" in at_head(remote, A_CONFIG)
