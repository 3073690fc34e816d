"""The durable inbox on a real sqlite file: dedupe, ordering, leases, crash re-delivery."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.engine.db import Database
from agent.engine.inbox import Inbox, event_conversation


async def open_inbox(path: Path) -> Inbox:
    db = Database(path)
    await db.open()
    inbox = Inbox(db)
    await inbox.start()
    return inbox


async def close(inbox: Inbox) -> None:
    await inbox.stop()
    await inbox.db.close()


async def test_replayed_webhook_id_is_stored_once(tmp_path: Path) -> None:
    inbox = await open_inbox(tmp_path / "s.sqlite")
    first = await inbox.put_event("msg_1", {"type": "epoch", "job": "a"})
    again = await inbox.put_event("msg_1", {"type": "epoch", "job": "a"})
    assert first == (first[0], True)
    assert again == (first[0], False)
    assert await inbox.depth() == 1
    await close(inbox)


async def test_concurrent_events_commit_together_and_keep_arrival_order(tmp_path: Path) -> None:
    inbox = await open_inbox(tmp_path / "s.sqlite")
    results = await asyncio.gather(
        *(inbox.put_event(f"msg_{i}", {"type": "epoch", "job": "a", "epoch": i}) for i in range(50))
    )
    assert all(created for _, created in results)
    items = await inbox.lease("job:a")
    assert [i.payload["epoch"] for i in items] == list(range(50))
    await close(inbox)


async def test_leased_items_return_to_ready_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    inbox = await open_inbox(path)
    await inbox.put_event("msg_1", {"type": "crashed", "job": "a"})
    leased = await inbox.lease("job:a")
    assert len(leased) == 1
    assert await inbox.lease("job:a") == []  # nothing ready while leased
    await close(inbox)  # the process "dies" before done()

    inbox = await open_inbox(path)
    again = await inbox.lease("job:a")
    assert [i.id for i in again] == [leased[0].id]
    await inbox.done(again, "t3")
    assert await inbox.depth() == 0
    await close(inbox)


async def test_ready_conversations_oldest_first_and_busy_excluded(tmp_path: Path) -> None:
    inbox = await open_inbox(tmp_path / "s.sqlite")
    await inbox.put_event("m1", {"type": "epoch", "job": "b"})
    await inbox.put_event("m2", {"type": "epoch", "job": "a"})
    await inbox.put("chat", "C1:1.0", "chat:C1:1.0", {"user": "U1", "text": "hi"})
    assert await inbox.ready_conversations(set()) == ["job:b", "job:a", "chat:C1:1.0"]
    assert await inbox.ready_conversations({"job:a"}) == ["job:b", "chat:C1:1.0"]
    await close(inbox)


def test_sweep_trials_share_the_sweep_conversation() -> None:
    trial = {"type": "epoch", "job": "sweep-x/trial-3", "labels": {"sweep": "lr-night"}}
    assert event_conversation(trial) == "sweep:lr-night"
    assert event_conversation({"type": "epoch", "job": "a/b"}) == "job:a/b"
