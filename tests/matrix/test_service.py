"""Issue 14's acceptance: the whole service over Matrix, against a real Synapse.

Real opencode, real git and aiqu skills with a bare remote, a real MLflow for
the plot, a real homeserver with the bot, two allowlisted people and a
stranger; only the model is scripted. What people see is read back through
Synapse's client API, as their Matrix client would.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from agent.service import Service
from agent.service.mlflow_server import MlflowServer
from agent.settings import Settings
from tests.aiqu.conftest import kill_leftovers
from tests.e2e.harness import eventually, post_event, service_settings
from tests.e2e.oom_fix import (
    CONFIG,
    OOM_JOB,
    REPO,
    TRACEBACK,
    TRAIN_YAML,
    Words,
    fixing_agent,
    jobs_named,
    submit,
    tool_results,
)
from tests.e2e.remote import Remote, seed_remote
from tests.e2e.skills_fixtures import LoggedRun, OneToolCall, log_runs, tool_json
from tests.fakes.model import ModelRequest, Reply, ScriptedModel
from tests.git.conftest import git
from tests.matrix.conftest import NOTIFY_ALIAS, World
from tests.matrix.people import Event, by, edits_of

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

WAIT = 90.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROPOSAL_ID = re.compile(r"\bP[0-9a-f]{10}\b")
MARK = re.compile(r"mark-(\w+)")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def model() -> AsyncIterator[ScriptedModel]:
    async with ScriptedModel() as m:
        yield m


@pytest.fixture(autouse=True)
def fresh_model(model: ScriptedModel) -> None:
    model.reset()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Remote:
    return seed_remote(tmp_path_factory.mktemp("git"), {CONFIG: TRAIN_YAML})


@pytest.fixture(scope="module")
def mlflow_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LoggedRun]]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        runs = log_runs(server.uri)
        yield server.uri, next(iter(runs.values()))


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("state")
    yield path
    kill_leftovers(path)


@dataclass
class Running:
    """The service under test; the restart test replaces it with a new process's worth."""

    service: Service
    settings: Settings


def matrix_settings(
    world: World, state: Path, model: ScriptedModel, remote: Remote, mlflow_uri: str
) -> Settings:
    repos = {REPO: {"path": str(remote.clone), "branch": "main", "allow": ["configs/**"]}}
    return service_settings(
        state,
        model.base_url,
        "http://127.0.0.1:9",  # no Slack in this module
        chat="matrix",
        slack_bot_token=None,
        slack_app_token=None,
        slack_signing_secret=None,
        # A Slack channel left over in the settings: threads still start in the Matrix room.
        notify_channel="C0LEFTOVER",
        allowed_users=",".join(sorted(world.allowed)),
        matrix_homeserver=world.synapse.url,
        matrix_user_id=world.bot.user_id,
        matrix_access_token=world.bot.access_token,
        matrix_notify_room=NOTIFY_ALIAS,
        git_repos=json.dumps(repos),
        mlflow_tracking_uri=mlflow_uri,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running(
    world: World,
    state: Path,
    model: ScriptedModel,
    remote: Remote,
    mlflow_runs: tuple[str, LoggedRun],
) -> AsyncIterator[Running]:
    settings = matrix_settings(world, state, model, remote, mlflow_runs[0])
    service = Service(settings)
    await service.start()
    current = Running(service, settings)
    try:
        yield current
    finally:
        await current.service.stop()


def ignored(why: str) -> float:
    return REGISTRY.get_sample_value("mlops_chat_ignored_total", {"why": why}) or 0.0


def top_level(sender: str, starts: str) -> Any:
    def check(event: Event) -> bool:
        content = event.get("content") or {}
        return (
            by(sender)(event)
            and "m.relates_to" not in content
            and str(content.get("body", "")).startswith(starts)
        )

    return check


def in_thread(sender: str, root: str, starts: str = "") -> Any:
    def check(event: Event) -> bool:
        return by(sender, thread=root)(event) and str(event["content"]["body"]).startswith(starts)

    return check


# -- the seed's story ---------------------------------------------------------------------


async def test_the_seed_story_crash_to_card_to_a_check_on_the_card_to_commit_and_requeue(
    running: Running, world: World, model: ScriptedModel, remote: Remote, state: Path
) -> None:
    service, room, bot = running.service, world.notify_room, world.bot.user_id
    ann = world.ann.user_id
    submit(state, OOM_JOB, "import sys; print('CUDA out of memory'); sys.exit(1)")
    await eventually(lambda: jobs_named(state, OOM_JOB)[-1].state.value == "failed", WAIT)

    model.handler = fixing_agent(
        model,
        OOM_JOB,
        re.compile(rf"proposal (P[0-9a-f]{{10}}) approved by {ann}"),
        Words(
            crashed=f"Crashed: {OOM_JOB} ran out of GPU memory at epoch 3.",
            proposed="I propose image_size 640, then a requeue. React ✅ on the card.",
            done="Done: committed {commit}, requeued.",
        ),
    )
    r = await post_event(
        service.url, service.secret, type="crashed", job=OOM_JOB, epoch=3, traceback=TRACEBACK
    )
    assert r.status_code == 202
    root = await world.ann.wait_for(room, top_level(bot, "Crashed:"), WAIT)

    await world.ann.say(room, "fix the image size and requeue", thread=root["event_id"])
    card = await world.ann.wait_for(room, in_thread(bot, root["event_id"], "Proposal P"), WAIT)
    found = PROPOSAL_ID.search(card["content"]["body"])
    assert found, card["content"]["body"]
    proposal_id = found.group(0)
    proposal = service.ledger.proposal(proposal_id)
    assert proposal is not None
    diff = proposal.payload["diff"]
    assert diff in card["content"]["body"] and "React ✅ to approve" in card["content"]["body"]
    assert "-image_size: 1280\n+image_size: 640\n" in diff

    # The stranger's ✅ on the card and Ann's ✅ on another message do nothing.
    refs, requests = remote.refs(), len(model.requests)
    not_allowed, not_a_card = ignored("not_allowed"), ignored("not_a_card")
    await world.mallory.react(room, card["event_id"], "✅")
    await world.ann.react(room, root["event_id"], "✅")
    await eventually(lambda: ignored("not_allowed") > not_allowed, WAIT)
    await eventually(lambda: ignored("not_a_card") > not_a_card, WAIT)
    await asyncio.sleep(1.0)
    assert remote.refs() == refs and len(model.requests) == requests
    assert service.ledger.decision_of(proposal_id) is None

    # Ann's ✅ on the card approves it: exactly the ledger's diff is pushed, the job requeued.
    await world.ann.react(room, card["event_id"], "✅")
    final = await world.ann.wait_for(room, in_thread(bot, root["event_id"], "Done:"), WAIT)
    approved_turn = next(r for r in model.requests if "[supervisor]" in r.last_user_text)
    assert f"[supervisor] proposal {proposal_id} approved by {ann} (button)" in (
        approved_turn.last_user_text
    )
    head = remote.head()
    pushed = git(remote.bare, "diff", "--src-prefix=a/", "--dst-prefix=b/", f"{head}^", head)
    assert pushed == diff
    assert f"Confirmed-by: {ann}" in git(remote.bare, "log", "-1", "--format=%(trailers)", head)
    assert "attempt 2" in " ".join(tool_results(model, "aiqu_requeue_job"))
    await eventually(lambda: [j.attempt for j in jobs_named(state, OOM_JOB)] == [1, 2], WAIT)
    assert final["content"]["body"] == f"Done: committed {head[:8]}, requeued."

    # The card itself now says who approved it, with a pill for Ann.
    edit = await world.ann.wait_for(
        room, lambda e: edits_of(card["event_id"])(e) and "Approved" in str(e["content"]), WAIT
    )
    new = edit["content"]["m.new_content"]
    assert f"✅ Approved by {ann} — applied {head}" in new["body"]
    assert f'href="https://matrix.to/#/{ann}"' in new["formatted_body"]


# -- DMs -----------------------------------------------------------------------------------


def echo_mark(request: ModelRequest) -> Reply:
    """Names every mark in the turn: messages that arrive while a conversation is busy are
    one turn together, answered by one reply."""
    found = MARK.findall(request.last_user_text)
    return Reply.text("seen " + " ".join(found) if found else "ok")


def marks_answered(events: list[Event], bot: str) -> list[str]:
    replies = [str(e["content"]["body"]) for e in events if by(bot)(e)]
    return [m for r in replies if r.startswith("seen ") for m in r.split()[1:]]


async def test_a_dm_from_an_allowlisted_person_is_answered_a_stranger_s_invite_declined(
    running: Running, world: World, model: ScriptedModel
) -> None:
    bot = world.bot.user_id
    model.handler = echo_mark
    dm = await world.ann.create_room(invite=(bot,), direct=True)
    stranger = await world.mallory.create_room(invite=(bot,), direct=True)

    async def membership(person: Any, room: str) -> str | None:
        return (await person.members(room)).get(bot)

    async with asyncio.timeout(WAIT):
        while await membership(world.ann, dm) != "join":
            await asyncio.sleep(0.1)
        while await membership(world.mallory, stranger) != "leave":
            await asyncio.sleep(0.1)
    asked = await world.ann.say(dm, "anything running? mark-dm1")
    answer = await world.ann.wait_for(dm, in_thread(bot, asked, "seen dm1"), WAIT)
    assert answer["content"]["m.mentions"] == {}
    assert len(model.requests) == 1  # the stranger's invite cost no model request


# -- plots ---------------------------------------------------------------------------------


async def test_a_plot_request_puts_an_image_into_the_thread(
    running: Running, world: World, model: ScriptedModel, mlflow_runs: tuple[str, LoggedRun]
) -> None:
    room, bot, run = world.notify_room, world.bot.user_id, mlflow_runs[1]

    def render(result: dict[str, Any]) -> str:
        return f"val_loss of {', '.join(tool_json(result)['runs'])}, curve attached"

    model.handler = OneToolCall.of(
        "mlflow_plot_metrics", {"runs": [run.job], "metrics": ["val_loss"]}, render
    )
    asked = await world.bob.say(
        room, f"{bot} show me the val_loss curve of {run.job}", mentions=(bot,)
    )
    text = await world.bob.wait_for(room, in_thread(bot, asked, "val_loss of"), WAIT)
    image = await world.bob.wait_for(room, by(bot, thread=asked, msgtype="m.image"), WAIT)
    data = await world.bob.download(image["content"]["url"])
    assert text["content"]["body"] == f"val_loss of {run.run_name}, curve attached"
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000
    info = image["content"]["info"]
    assert info["mimetype"] == "image/png" and info["w"] > 100 and info["h"] > 100


# -- a restart ----------------------------------------------------------------------------


async def test_messages_sent_around_a_restart_are_each_answered_exactly_once(
    running: Running, world: World, model: ScriptedModel
) -> None:
    room, bot = world.notify_room, world.bot.user_id
    model.handler = echo_mark
    root = await world.ann.say(room, f"{bot} restart drill mark-r0", mentions=(bot,))
    await world.ann.wait_for(room, in_thread(bot, root, "seen r0"), WAIT)

    await running.service.stop()
    sent = {"r1": await world.ann.say(room, "while down mark-r1", thread=root)}
    sent["r2"] = await world.bob.say(room, f"{bot} also down mark-r2", mentions=(bot,))
    service = Service(running.settings)
    starting = asyncio.create_task(service.start())
    sent["r3"] = await world.ann.say(room, "while starting mark-r3", thread=root)
    await starting
    running.service = service
    sent["r4"] = await world.ann.say(room, "after mark-r4", thread=root)

    everything = ["r0", *sent]

    async def all_answered() -> list[str]:
        async with asyncio.timeout(WAIT):
            while not set(everything) <= set(
                answered := marks_answered(await world.ann.events(room, 300), bot)
            ):
                await asyncio.sleep(0.2)
        return answered

    await all_answered()
    await asyncio.sleep(2.0)  # time for a duplicate to show up, if there were one
    answered = await all_answered()
    assert sorted(m for m in answered if m in everything) == sorted(everything), answered
    asked = [MARK.findall(r.last_user_text) for r in model.requests]
    assert sorted(m for marks in asked for m in marks) == sorted(everything)
