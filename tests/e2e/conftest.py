from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.model import ScriptedModel
from tests.fakes.slack import FakeSlack


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def model() -> AsyncIterator[ScriptedModel]:
    async with ScriptedModel() as m:
        yield m


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()
