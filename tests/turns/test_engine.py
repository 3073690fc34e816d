"""The turn engine's mechanics, with a scripted runtime: serial conversations, coalescing,
the global cap, pause and resume, retries, and what every turn leaves in the records."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from agent.engine.inbox import Inbox
from agent.engine.outbox import Outbox
from agent.engine.steps.base import TurnContext, TurnStep
from agent.engine.turns import MAX_RESTART_RETRIES
from agent.opencode.errors import OpencodeRestarted, TurnTimeout
from agent.service.model_watch import ModelWatch
from tests.fakes.runtime import Answer
from tests.turns.conftest import NOTIFY, SILENCE, StartEngine, eventually


async def test_a_conversation_runs_one_turn_at_a_time_while_others_proceed(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    release = asyncio.Event()
    rig.runtime.default = Answer.reply("ok", hold=release)
    await rig.event("a", epoch=1)
    await eventually(lambda: _sent(rig, 1))
    await rig.event("a", epoch=2)
    await rig.event("b", epoch=1)
    await eventually(lambda: _sent(rig, 2))
    await asyncio.sleep(0.1)  # room for a wrongly started second turn of job:a

    assert [s.conversation for s in rig.runtime.sent] == ["job:a", "job:b"]
    release.set()
    await eventually(rig.all_done)
    assert [s.conversation for s in rig.runtime.sent] == ["job:a", "job:b", "job:a"]
    assert rig.runtime.peak_per_conversation == 1
    assert rig.runtime.peak_total == 2


async def test_items_arriving_during_a_turn_make_the_next_turn_in_arrival_order(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    release = asyncio.Event()
    rig.runtime.push(Answer.reply("first", hold=release))
    await rig.event("a", epoch=1)
    await eventually(lambda: _sent(rig, 1))
    for epoch in (2, 3, 4):
        await rig.event("a", epoch=epoch)
    release.set()
    await eventually(rig.all_done)

    assert len(rig.runtime.sent) == 2
    second = rig.runtime.sent[1].text
    assert "items=3 (event)" in second
    assert second.index("epoch=2") < second.index("epoch=3") < second.index("epoch=4")
    assert "epoch=1" not in second
    assert [t["items"] for t in await rig.turns("job:a")] == [1, 3]
    assert [t["seq"] for t in await rig.turns("job:a")] == [1, 2]


async def test_the_global_cap_bounds_concurrent_turns(start_engine: StartEngine) -> None:
    rig = await start_engine(max_concurrent=2)
    release = asyncio.Event()
    rig.runtime.default = Answer.reply("ok", hold=release)
    for job in ("a", "b", "c", "d"):
        await rig.event(job)
    await eventually(lambda: _sent(rig, 2))
    await asyncio.sleep(0.1)  # room for a third turn past the cap

    assert len(rig.runtime.sent) == 2
    release.set()
    await eventually(rig.all_done)
    assert sorted(s.conversation for s in rig.runtime.sent) == [
        "job:a",
        "job:b",
        "job:c",
        "job:d",
    ]
    assert rig.runtime.peak_total == 2


async def test_model_watch_pauses_turns_while_the_model_is_down_and_resumes_them(
    start_engine: StartEngine, outbox: Outbox
) -> None:
    rig = await start_engine()
    watch = ModelWatch(
        reachable=rig.runtime.model_reachable,
        notice=outbox.notice,
        engine=rig.engine,
        grace_s=0.0,
        endpoint="http://model:8000/v1",
    )
    rig.runtime.reachable = False
    await watch.check()
    assert rig.engine.paused
    await rig.event("a", epoch=1)
    await rig.event("a", epoch=2)
    await asyncio.sleep(0.1)
    await watch.check()

    assert rig.runtime.sent == []
    assert await rig.inbox_states() == {"ready": 2}
    notices = [p.text for p in rig.chat.posts if p.channel == NOTIFY and p.thread_ts is None]
    assert len(notices) == 1 and "unreachable" in notices[0]  # one, not one per check

    rig.runtime.reachable = True
    await watch.check()
    assert not rig.engine.paused
    await eventually(rig.all_done)
    (turn,) = rig.runtime.sent
    assert "epoch=1" in turn.text and "epoch=2" in turn.text
    assert "reachable again" in rig.chat.posts[1].text


async def test_a_model_error_with_the_endpoint_down_pauses_and_puts_the_items_back(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    rig.runtime.push(Answer.model_error("connection refused"))
    rig.runtime.reachable = False
    await rig.event("a")
    await eventually(lambda: _outcomes(rig))

    assert await _outcomes(rig) == [("failed", "model_unreachable")]
    assert rig.engine.paused
    assert await rig.inbox_states() == {"ready": 1}
    assert rig.chat.posts == []

    rig.runtime.reachable = True
    rig.engine.paused = False  # what the model watch does once the endpoint answers
    rig.engine.wake()
    await eventually(rig.all_done)
    assert await _outcomes(rig) == [("failed", "model_unreachable"), ("posted", "ok")]
    assert len(rig.runtime.sent) == 2


async def test_a_model_error_with_the_endpoint_up_is_recorded_and_the_items_done(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    rig.runtime.push(Answer.model_error("context overflow"))
    await rig.event("a")
    await eventually(rig.all_done)

    (turn,) = await rig.turns()
    assert (turn["outcome"], turn["reason"]) == ("failed", "model_error")
    assert "context overflow" in turn["detail"]
    assert not rig.engine.paused
    assert rig.chat.posts == []


async def test_a_turn_in_flight_when_opencode_restarted_is_sent_again_and_answered_once(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    rig.runtime.push(Answer.raising(OpencodeRestarted), Answer.reply("Crashed: OOM"))
    await rig.event("a")
    await eventually(rig.all_done)

    first, second = rig.runtime.sent
    assert first.text == second.text
    assert [p.text for p in rig.chat.posts] == ["Crashed: OOM"]
    assert await _outcomes(rig) == [("posted", "ok")]


async def test_a_turn_that_keeps_losing_opencode_fails_and_its_items_come_back(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    rig.runtime.push(*[Answer.raising(OpencodeRestarted)] * (MAX_RESTART_RETRIES + 1))
    await rig.event("a")
    await eventually(rig.all_done)

    assert len(rig.runtime.sent) == MAX_RESTART_RETRIES + 2
    assert await _outcomes(rig) == [("failed", "error"), ("posted", "ok")]
    assert "OpencodeRestarted" in (await rig.turns())[0]["detail"]


async def test_a_reply_that_cannot_be_posted_is_kept_and_posted_once_chat_is_back(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine(retry_after_error_s=0.05)
    rig.chat.failing = True
    rig.runtime.default = Answer.reply("Finished a")
    await rig.event("a", epoch=7)
    await asyncio.sleep(0.5)  # several posts refused meanwhile
    assert rig.chat.posts == []
    assert "done" not in await rig.inbox_states()

    rig.chat.failing = False  # chat is back
    await eventually(rig.all_done)
    assert [p.text for p in rig.chat.posts] == ["Finished a"]
    assert len(rig.runtime.sent) == 1  # the model was asked once
    assert await _outcomes(rig) == [("posted", "ok")]


async def test_a_timeout_is_recorded_and_posts_nothing(start_engine: StartEngine) -> None:
    rig = await start_engine()
    rig.runtime.push(Answer.raising(TurnTimeout))
    await rig.event("a")
    await eventually(rig.all_done)

    assert await _outcomes(rig) == [("failed", "timeout")]
    assert rig.chat.posts == []
    assert len(rig.runtime.sent) == 1  # not sent again: the model had its time


async def test_silence_posts_nothing_but_is_recorded(start_engine: StartEngine) -> None:
    rig = await start_engine()
    rig.runtime.push(Answer.reply(f"  `{SILENCE}`\n"), Answer.reply(""))
    await rig.event("a")
    await eventually(rig.all_done)
    await rig.event("b")
    await eventually(rig.all_done)

    assert rig.chat.posts == []
    assert await _outcomes(rig) == [("silent", "ok"), ("silent", "ok")]
    assert all(t["ended"] >= t["started"] for t in await rig.turns())


async def test_steps_run_around_the_turn_and_their_notes_reach_the_model(
    start_engine: StartEngine,
) -> None:
    seen: list[str] = []

    class Witness(TurnStep):
        async def before(self, turn: TurnContext) -> None:
            seen.append(f"before {turn.seq} result={turn.result is not None}")
            turn.notes.append("proposal P1 approved by <@UALICE> (button)")

        async def after(self, turn: TurnContext) -> None:
            assert turn.result is not None
            seen.append(f"after {turn.seq} {turn.result.text}")

    rig = await start_engine(steps=[Witness()])
    rig.runtime.push(Answer.reply("Applied."))
    await rig.event("a")
    await eventually(rig.all_done)

    assert seen == ["before 1 result=False", "after 1 Applied."]
    assert "[supervisor] proposal P1 approved by <@UALICE> (button)" in rig.runtime.sent[0].text


async def test_upkeep_between_turns_reaches_the_model_once(start_engine: StartEngine) -> None:
    """What the runtime did before a turn (a skill restarted, opencode renewed) is said in it."""
    rig = await start_engine()
    rig.runtime.upkeep_notes = ["the skill `git` was restarted after it died"]
    await rig.event("a")
    await eventually(rig.all_done)
    await rig.event("a")
    await eventually(rig.all_done)

    first, second = rig.runtime.sent
    assert "[supervisor] the skill `git` was restarted after it died" in first.text
    assert "restarted" not in second.text


async def test_a_failing_step_fails_the_turn_and_its_items_come_back(
    start_engine: StartEngine,
) -> None:
    calls = 0

    class FlakyAfter(TurnStep):
        async def after(self, turn: TurnContext) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("ledger locked")

    rig = await start_engine(steps=[FlakyAfter()])
    await rig.event("a")
    await eventually(rig.all_done)

    assert await _outcomes(rig) == [("failed", "error"), ("posted", "ok")]


async def test_the_engine_stops_even_when_woken_at_the_same_moment(
    start_engine: StartEngine,
) -> None:
    rig = await start_engine()
    await asyncio.sleep(0.05)  # the engine is waiting for work
    rig.engine.wake()  # e.g. the last turn's task ending as the service stops
    rig.running.cancel()
    done, _ = await asyncio.wait({rig.running}, timeout=2.0)
    assert done == {rig.running} and rig.running.cancelled()


async def test_a_turn_a_stop_cut_short_is_closed_and_taken_out_of_its_session_at_start(
    start_engine: StartEngine, inbox: Inbox
) -> None:
    """Issue 27: the turn in flight when the service went down is not left open, nor left in
    its opencode session beside its retry (the model would be shown its items twice)."""
    first = await start_engine()
    first.runtime.default = Answer.reply("never", hold=asyncio.Event())  # hangs until the stop
    await first.event("a", epoch=1)
    await eventually(lambda: _sent(first, 1))
    await first.engine.stop()
    first.running.cancel()
    await asyncio.gather(first.running, return_exceptions=True)
    (cut,) = await first.turns()
    assert cut["ended"] is None  # what a stop or a kill leaves behind

    await inbox.stop()
    assert await inbox.start() == 1  # the leased event is ready again
    first.runtime.default = Answer.reply("Epoch 1 of a")
    again = await start_engine()  # no new event, no wake: the restart alone turns it
    await eventually(again.all_done)

    session = first.runtime.sent[0].session_id
    assert again.runtime.forgotten == [(session, f"[turn_id={cut['turn_id']} ")]
    retry = again.runtime.sent[1]
    assert (retry.session_id, "epoch=1" in retry.text) == (session, True)
    rows = {t["turn_id"]: (t["outcome"], t["reason"]) for t in await again.turns()}
    assert rows.pop(cut["turn_id"]) == ("failed", "interrupted")
    assert list(rows.values()) == [("posted", "ok")]


async def test_the_engine_keeps_turning_after_a_failed_look_at_the_inbox(
    start_engine: StartEngine, store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await start_engine()
    other = sqlite3.connect(store_dir / "service.sqlite", isolation_level=None)
    try:
        with caplog.at_level(logging.ERROR, logger="agent.engine.turns"):
            other.execute("ALTER TABLE inbox RENAME TO inbox_away")  # every look now fails
            await eventually(lambda: _logged(caplog, "could not look for waiting items"))
            other.execute("ALTER TABLE inbox_away RENAME TO inbox")
    finally:
        other.close()
    await rig.event("a", epoch=1)
    await eventually(rig.all_done)
    assert not rig.running.done()
    assert await _outcomes(rig) == [("posted", "ok")]


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


async def _sent(rig, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(rig.runtime.sent) >= n


async def _outcomes(rig) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(t["outcome"], t["reason"]) for t in await rig.turns() if t["outcome"]]
