"""While the agent is unreachable events wait on disk; they arrive in order once it is
back — in the same process, or sent by the next process of the same job."""

from __future__ import annotations

import json
import time

from mlops_reporter.spool import Spool, SpoolEntry
from tests.reporter.conftest import Receiver, run_script


def spooled(reporter) -> list[dict]:
    path = reporter.spool_path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_events_spool_while_the_agent_is_down_and_arrive_in_order_after(
    down_receiver: Receiver, make_reporter
):
    reporter = make_reporter(down_receiver)
    reporter.started()
    for epoch in range(1, 6):
        reporter.epoch(epoch)
    assert reporter.flush(5)
    on_disk = spooled(reporter)
    assert [e["event"]["type"] for e in on_disk] == ["started"] + ["epoch"] * 5

    down_receiver.start()
    events = down_receiver.wait_for(6)
    assert [e["type"] for e in events] == ["started", "epoch", "epoch", "epoch", "epoch", "epoch"]
    assert [e.get("epoch") for e in events[1:]] == [1, 2, 3, 4, 5]
    wait_until(lambda: not reporter.spool_path.exists())


def test_a_replayed_event_keeps_its_webhook_id_and_gets_a_fresh_timestamp(
    down_receiver: Receiver, make_reporter
):
    reporter = make_reporter(down_receiver)
    reporter.epoch(1)
    assert reporter.flush(5)
    (entry,) = spooled(reporter)
    time.sleep(1.1)  # the signing second must differ from the spooling second
    restarted_at = int(time.time())
    down_receiver.start()
    down_receiver.wait_for(1)
    (received,) = down_receiver.received
    assert received.headers["webhook-id"] == entry["id"]
    assert int(received.headers["webhook-timestamp"]) >= restarted_at


def test_events_sent_after_recovery_queue_behind_the_spooled_ones(
    down_receiver: Receiver, make_reporter
):
    reporter = make_reporter(down_receiver, retry_base_s=0.5, retry_max_s=0.5)
    reporter.epoch(1)
    reporter.epoch(2)
    assert reporter.flush(5)
    down_receiver.start()
    reporter.epoch(3)  # likely before the backoff ends: must still come after 1 and 2
    reporter.epoch(4)
    events = down_receiver.wait_for(4)
    assert [e["epoch"] for e in events] == [1, 2, 3, 4]


def test_a_full_queue_spools_instead_of_blocking_and_order_still_holds(
    hanging_port, secret, make_reporter
):
    port, listener = hanging_port
    # Queue size 2: past 20 queued events (10x) the caller's thread spools them itself.
    reporter = make_reporter(url=f"http://127.0.0.1:{port}", queue_size=2, timeout_s=3.0)
    reporter.started()
    time.sleep(0.5)  # the sender is now stuck in that POST, which hangs for 3 s
    slowest = 0.0
    for epoch in range(1, 51):
        start = time.perf_counter()
        reporter.epoch(epoch)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.5, f"an epoch() call took {slowest:.3f} s"  # no call waited
    # 1 started + 19 epochs fill the queue to 20; the other 31 went to disk at once.
    assert [e["event"]["epoch"] for e in spooled(reporter)] == list(range(20, 51))

    listener.close()
    agent = Receiver(secret, port)
    agent.start()
    try:
        events = agent.wait_for(51, timeout_s=20)
        assert events[0]["type"] == "started"
        assert [e["epoch"] for e in events[1:]] == list(range(1, 51))
    finally:
        agent.stop()


def test_the_next_process_sends_the_spool_first_in_order(
    down_receiver: Receiver, secret, spool_dir
):
    env = {
        "MLOPS_URL": down_receiver.url,
        "MLOPS_WEBHOOK_SECRET": secret,
        "MLOPS_JOB": "nightly",
        "MLOPS_SPOOL_DIR": str(spool_dir),
    }
    first = run_script(
        "from mlops_reporter import Reporter\n"
        "r = Reporter()\n"
        "r.started(run=1)\n"
        "for e in (1, 2, 3): r.epoch(e)\n",
        env,
    )
    assert first.returncode == 0, first.stderr
    assert "cannot reach the agent" in first.stderr
    left = [json.loads(line) for line in (spool_dir / "nightly.jsonl").read_text().splitlines()]
    assert len(left) == 4

    down_receiver.start()
    second = run_script("from mlops_reporter import Reporter\nReporter().started(run=2)\n", env)
    assert second.returncode == 0, second.stderr
    events = down_receiver.wait_for(5)
    assert [(e["type"], e.get("run"), e.get("epoch")) for e in events] == [
        ("started", 1, None),
        ("epoch", None, 1),
        ("epoch", None, 2),
        ("epoch", None, 3),
        ("started", 2, None),
    ]
    assert [r.headers["webhook-id"] for r in down_receiver.received[:4]] == [e["id"] for e in left]
    assert not (spool_dir / "nightly.jsonl").exists()


def test_spool_reads_back_sessions_in_order_dedupes_and_skips_torn_lines(tmp_path):
    spool = Spool(tmp_path, "job/with:odd chars")
    spool.append([SpoolEntry("a2", "old", 2, {"n": 2}), SpoolEntry("a1", "old", 1, {"n": 1})])
    spool.append([SpoolEntry("b1", "new", 1, {"n": 3}), SpoolEntry("a1", "old", 1, {"n": 1})])
    with open(spool.path, "a") as f:
        f.write('{"id": "torn", "sess')  # a crash mid-write
    assert spool.path.parent == tmp_path
    assert [e.id for e in spool.read()] == ["a1", "a2", "b1"]
    spool.ack(["a1"])
    assert [e.id for e in spool.read()] == ["a2", "b1"]
    assert spool.compact() == 2
    assert [e.id for e in spool.read()] == ["a2", "b1"]
    assert "torn" not in spool.path.read_text()
    spool.ack(["a2", "b1"])
    assert spool.compact() == 0
    assert spool.is_empty()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job_with_odd_chars.lock"]
