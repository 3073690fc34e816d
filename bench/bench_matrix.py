"""Benchmark: event in → the agent's message visible to a person's Matrix client.

    .venv/bin/python bench/bench_matrix.py [--events 30]

Needs Synapse (`make install-synapse`). Two services run side by side in this
process, as the end-to-end tests run them (real opencode and skills, a scripted
model that answers at once): one over the fake Slack, one over a real Synapse
on 127.0.0.1. Events go to both in turn, one at a time, each to one job (its
thread after the first):

- Matrix: from the signed POST until a person's Matrix client (matrix-nio,
  long-polling `/sync` as Element does) receives the reply;
- Slack (baseline, same run): from the signed POST until the fake Slack
  receives `chat.postMessage` — what `bench_turns.py` measures.

The Matrix figure also splits at the homeserver: POST → the event's
`origin_server_ts` (the service, up to the homeserver accepting the message),
and that → the client's sync receiving it (delivery to the person).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nio import AsyncClient, RoomMessageText, SyncResponse  # noqa: E402

from agent.service import Service  # noqa: E402
from bench.bench_turns import EventSender, bench_service, quantiles_ms, service_turn  # noqa: E402
from tests.e2e.harness import service_settings  # noqa: E402
from tests.fakes.model import ScriptedModel  # noqa: E402
from tests.matrix.people import MatrixPerson  # noqa: E402
from tests.matrix.synapse import Synapse  # noqa: E402

SEEN = re.compile(r"^seen (\w+)$")


class MatrixClient:
    """A person's client: one long-poll `/sync` loop noting when each reply arrives."""

    def __init__(self, url: str, user_id: str, token: str) -> None:
        self.client = AsyncClient(url, user_id)
        self.client.access_token = token
        self.arrived: dict[str, tuple[float, int]] = {}  # mark → (perf_counter, server ts)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        first = await self.client.sync(timeout=0)
        assert isinstance(first, SyncResponse)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            response = await self.client.sync(timeout=30_000)
            now = time.perf_counter()
            if not isinstance(response, SyncResponse):
                continue
            for joined in response.rooms.join.values():
                for event in joined.timeline.events:
                    if isinstance(event, RoomMessageText) and (m := SEEN.match(event.body)):
                        self.arrived.setdefault(m.group(1), (now, event.server_timestamp))

    async def wait(self, mark: str, timeout: float = 60.0) -> tuple[float, int]:
        deadline = time.perf_counter() + timeout
        while mark not in self.arrived:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"reply {mark} never reached the Matrix client")
            await asyncio.sleep(0.002)
        return self.arrived[mark]

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()


async def matrix_turn(
    sender: EventSender, client: MatrixClient, job: str, epoch: int
) -> tuple[float, float, float]:
    """(total, POST → homeserver accepted, homeserver → client) in seconds."""
    mark = uuid.uuid4().hex[:12]
    t0, wall0 = time.perf_counter(), time.time()
    await sender.send(type="epoch", job=job, epoch=epoch, metrics={"loss": 0.43}, mark=mark)
    arrived, server_ts = await client.wait(mark)
    total = arrived - t0
    to_server = server_ts / 1000 - wall0
    return total, to_server, total - to_server


async def run(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        synapse = await asyncio.to_thread(Synapse(root / "synapse").start)
        print(f"synapse ready in {time.perf_counter() - t0:.1f} s")
        bot, ann = synapse.register("mlops-bot"), synapse.register("ann")
        person = MatrixPerson(synapse.url, ann)
        room = await person.create_room(invite=(bot.user_id,), alias="ops")
        client = MatrixClient(synapse.url, ann.user_id, ann.access_token)
        try:
            async with ScriptedModel() as model, bench_service(root / "slack") as slack_side:
                slack_service, slack_model, slack = slack_side
                model.handler = slack_model.handler  # the same instant echo
                settings = service_settings(
                    root / "matrix",
                    model.base_url,
                    "http://127.0.0.1:9",
                    chat="matrix",
                    slack_bot_token=None,
                    allowed_users=ann.user_id,
                    matrix_homeserver=synapse.url,
                    matrix_user_id=bot.user_id,
                    matrix_access_token=bot.access_token,
                    matrix_notify_room=room,
                )
                matrix_service = Service(settings)
                await matrix_service.start()
                await client.start()
                try:
                    await measure(events, slack_service, slack, matrix_service, client)
                finally:
                    await matrix_service.stop()
        finally:
            await client.close()
            await person.aclose()
            synapse.stop()


async def measure(
    events: int, slack_service: Service, slack: Any, matrix_service: Service, client: MatrixClient
) -> None:
    to_slack = EventSender(slack_service.url, slack_service.secret)
    to_matrix = EventSender(matrix_service.url, matrix_service.secret)
    slack_times: list[float] = []
    matrix_times: list[tuple[float, float, float]] = []
    try:
        # Warm-up: a job's first event starts its thread and its opencode session.
        await service_turn(to_slack, slack, "bench/same", 0)
        await matrix_turn(to_matrix, client, "bench/same", 0)
        for i in range(1, events + 1):
            slack_times.append(await service_turn(to_slack, slack, "bench/same", i))
            matrix_times.append(await matrix_turn(to_matrix, client, "bench/same", i))
    finally:
        await to_slack.close()
        await to_matrix.close()

    total, to_server, to_client = (list(x) for x in zip(*matrix_times, strict=True))
    print(f"event in → reply out, one job's thread, {events} events each, taking turns:")
    print(f"  Matrix, seen by a person's client   {quantiles_ms(total)}")
    print(f"    POST → homeserver accepted          {quantiles_ms(to_server)}")
    print(f"    homeserver → client /sync           {quantiles_ms(to_client)}")
    print(f"  Slack (fake), chat.postMessage      {quantiles_ms(slack_times)}   (baseline)")
    gap = statistics.median(total) - statistics.median(slack_times)
    print(f"  Matrix − Slack at p50: {gap * 1000:+.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    from tests.matrix.synapse import SYNAPSE_PYTHON

    if not SYNAPSE_PYTHON.exists():
        sys.exit("Synapse is not installed: run `make install-synapse`")
    asyncio.run(run(args.events))


if __name__ == "__main__":
    main()
