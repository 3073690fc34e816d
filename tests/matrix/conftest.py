"""A real Synapse per test module, with the people every Matrix test needs.

The bot, two allowlisted people (Ann, Bob), a stranger (Mallory) and an
admin are registered through the shared-secret admin API; Ann creates the
notify room (alias `#ops:localhost`) and invites everyone. Everything stops
at the end of the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import missing
from tests.matrix.people import MatrixPerson
from tests.matrix.synapse import MatrixUser, Synapse

NOTIFY_ALIAS = "#ops:localhost"


@dataclass
class World:
    synapse: Synapse
    bot: MatrixUser
    ann: MatrixPerson
    bob: MatrixPerson
    mallory: MatrixPerson
    admin: MatrixPerson
    notify_room: str

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset({self.ann.user_id, self.bob.user_id})


@pytest.fixture(scope="module")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    if not Synapse.installed():
        missing("Synapse is not installed: run `make install-synapse` (.venv-synapse)")
    server = Synapse(tmp_path_factory.mktemp("synapse")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(synapse: Synapse) -> AsyncIterator[World]:
    bot = await asyncio.to_thread(synapse.register, "mlops-bot")
    people = [
        MatrixPerson(synapse.url, await asyncio.to_thread(synapse.register, name, admin=admin))
        for name, admin in (("ann", False), ("bob", False), ("mallory", False), ("admin", True))
    ]
    ann, bob, mallory, admin = people
    room = await ann.create_room(
        invite=(bot.user_id, bob.user_id, mallory.user_id), alias=NOTIFY_ALIAS[1:].split(":")[0]
    )
    await bob.join(room)
    await mallory.join(room)
    try:
        yield World(synapse, bot, ann, bob, mallory, admin, room)
    finally:
        for person in people:
            await person.aclose()


def bot_state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir(exist_ok=True)
    return path
