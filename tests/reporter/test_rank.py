"""In distributed training only rank 0 reports — except crashes, which every rank reports."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("env", "rank"),
    [({"RANK": "3"}, 3), ({"LOCAL_RANK": "1"}, 1), ({"RANK": "2", "LOCAL_RANK": "0"}, 2)],
)
def test_other_ranks_report_only_crashes(env, rank, receiver, make_reporter, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reporter = make_reporter(receiver)
    assert not reporter.enabled
    reporter.started()
    reporter.epoch(1, metrics={"loss": 1.0})
    reporter.milestone("halfway")
    reporter.event("custom")
    reporter.finished()
    reporter.crashed(RuntimeError("NCCL timeout"))
    (event,) = receiver.wait_for(1)
    assert reporter.flush(5)
    assert [e["type"] for e in receiver.events()] == ["crashed"]
    assert event["rank"] == rank
    assert event["message"] == "NCCL timeout"


def test_rank_zero_by_rank_wins_over_local_rank(receiver, make_reporter, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "1")  # second GPU of node 0 would not report
    reporter = make_reporter(receiver)
    reporter.epoch(1)
    assert receiver.wait_for(1)[0]["type"] == "epoch"


def test_a_single_process_without_rank_variables_reports(receiver, make_reporter, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    reporter = make_reporter(receiver)
    assert reporter.enabled
    reporter.started()
    assert receiver.wait_for(1)[0]["rank"] == 0
