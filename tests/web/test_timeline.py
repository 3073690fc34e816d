"""A thread as the page shows it: the transcript and the inbox merged in time order,
events in a row collapsed, and the list's state, unread mark and pending proposals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from agent.engine.turn_log import TurnLog
from agent.web.timeline import title_of
from tests.web.rig import PageRig, page_rig

JOB = "job:cust-b/x"
ALICE = "web:alice"


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[PageRig]:
    async with page_rig(tmp_path) as r:
        yield r


async def test_a_thread_merges_what_came_in_and_what_went_out_in_order(rig: PageRig) -> None:
    await rig.inbox.put_event("e1", {"type": "started", "job": "cust-b/x"})
    await rig.inbox.put_event("e2", {"type": "epoch", "job": "cust-b/x", "epoch": 1})
    await rig.outbox.reply(JOB, "Started cust-b/x")
    await rig.inbox.put("chat", "web:1", JOB, {"user": ALICE, "text": "how is it going?"})
    await rig.inbox.put_event("e3", {"type": "crashed", "job": "cust-b/x", "epoch": 3,
                                     "traceback": "Traceback\n  boom"})  # fmt: skip
    proposal = await rig.proposal_card(JOB)
    await rig.inbox.put(
        "click", "c1", JOB, {"user": ALICE, "action": "approve", "proposal": proposal.id}
    )

    thread = await rig.page.timeline.thread(ALICE, JOB)
    assert thread is not None
    kinds = [e.kind for e in thread.entries]
    assert kinds == ["inputs", "agent", "person", "inputs", "card", "click"]
    first = thread.entries[0]
    assert [summary for summary, _, _ in first.inputs] == ["started", "epoch · epoch 1"]
    crash = thread.entries[3].inputs[0]
    assert crash[0] == "crashed · epoch 3"
    assert "event crashed" in crash[1] and "traceback:\n  Traceback\n    boom" in crash[1]
    assert thread.entries[4].card is not None
    assert thread.entries[4].card.proposal_id == proposal.id


async def test_the_list_says_state_last_event_pending_and_unread(rig: PageRig) -> None:
    await rig.inbox.put_event("e1", {"type": "epoch", "job": "cust-b/x", "epoch": 4})
    await rig.inbox.put_event("e2", {"type": "finished", "job": "done/y"})
    await rig.inbox.put("chat", "web:1", "chat:web:1", {"user": ALICE, "text": "what runs?"})
    await rig.proposal_card(JOB)

    listed = {t.key: t for t in await rig.page.timeline.threads(ALICE)}
    assert set(listed) == {JOB, "job:done/y", "chat:web:1"}
    job = listed[JOB]
    assert (job.title, job.kind, job.state, job.last_event) == ("cust-b/x", "job", "running",
                                                                "epoch · epoch 4")  # fmt: skip
    assert job.open_cards == 1 and job.unread and not job.working
    assert listed["job:done/y"].state == "finished"
    assert (listed["chat:web:1"].title, listed["chat:web:1"].state) == ("what runs?", None)

    await rig.page.timeline.seen(ALICE, JOB)
    assert not {t.key: t for t in await rig.page.timeline.threads(ALICE)}[JOB].unread
    assert {t.key: t for t in await rig.page.timeline.threads("web:carol")}[JOB].unread
    await asyncio.sleep(0.01)
    await rig.outbox.reply(JOB, "Epoch 5")
    assert {t.key: t for t in await rig.page.timeline.threads(ALICE)}[JOB].unread


async def test_a_running_turn_shows_while_it_runs(rig: PageRig) -> None:
    await rig.inbox.put_event("e1", {"type": "crashed", "job": "cust-b/x"})
    turn_log = TurnLog(rig.ledger, rig.db, rig.hub)
    turn = await turn_log.open(JOB, await rig.inbox.lease(JOB))
    (summary,) = await rig.page.timeline.threads(ALICE)
    assert summary.working and summary.state == "crashed"
    await turn_log.close(turn, "silent", "ok")
    (summary,) = await rig.page.timeline.threads(ALICE)
    assert not summary.working


def test_titles_name_the_job_the_sweep_or_the_first_words() -> None:
    assert title_of("job:cust-b/pcb-v2", None) == ("cust-b/pcb-v2", "job")
    assert title_of("sweep:lr-1", None) == ("sweep lr-1", "sweep")
    assert title_of("chat:web:abc", "plot the val_loss of yolo-a please") == (
        "plot the val_loss of yolo-a please",
        "chat",
    )
    assert title_of("chat:D1:1.5", None) == ("conversation", "chat")
