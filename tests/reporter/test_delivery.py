"""Events reach the agent signed (verified by the service's own intake), with the
fields the service expects; statuses decide between retry and drop."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import datetime

import pytest
from standardwebhooks import Webhook

from mlops_reporter import Outcome, new_message_id, post_event
from tests.reporter.conftest import new_secret


def test_events_arrive_signed_and_verified_by_the_intake(receiver, make_reporter):
    reporter = make_reporter(receiver)
    reporter.started(lr=0.001)
    reporter.epoch(1, total=3, metrics={"loss": 0.5})
    reporter.milestone("best_checkpoint", path="ckpt/best.pt")
    reporter.finished(metrics={"loss": 0.2})
    events = receiver.wait_for(4)
    assert [e["type"] for e in events] == ["started", "epoch", "milestone", "finished"]
    assert events[0]["lr"] == 0.001
    assert (events[1]["epoch"], events[1]["total"], events[1]["metrics"]) == (1, 3, {"loss": 0.5})
    assert events[2]["name"] == "best_checkpoint"
    assert events[3]["metrics"] == {"loss": 0.2}


def test_each_event_has_its_own_webhook_id(receiver, make_reporter):
    reporter = make_reporter(receiver)
    for epoch in range(1, 6):
        reporter.epoch(epoch)
    receiver.wait_for(5)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == 5
    assert all(i.startswith("msg_") for i in ids)


def test_body_carries_job_time_host_gpus_attempt_rank_labels(receiver, make_reporter, monkeypatch):
    monkeypatch.setenv("MLOPS_ATTEMPT", "2")
    monkeypatch.setenv("MLOPS_LABELS", '{"team": "vision", "dataset": "v3"}')
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    before = time.time()
    make_reporter(receiver, job="resnet50").event("custom", note="hi")
    (event,) = receiver.wait_for(1)
    assert event["job"] == "resnet50"
    assert event["attempt"] == 2
    assert event["labels"] == {"team": "vision", "dataset": "v3"}
    assert event["gpus"] == 2
    assert event["rank"] == 0
    assert event["host"] == socket.gethostname()
    assert event["note"] == "hi"
    assert "mlflow_run_id" not in event  # no MLflow run is active
    ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= ts <= time.time() + 1


def test_a_field_cannot_overwrite_type_job_or_time(receiver, make_reporter):
    make_reporter(receiver, job="real").event("custom", job="forged", ts="yesterday")
    (event,) = receiver.wait_for(1)
    assert (event["type"], event["job"]) == ("custom", "real")
    assert event["ts"] != "yesterday"


def test_non_finite_and_tensor_metrics_become_plain_json(receiver, make_reporter):
    import torch

    make_reporter(receiver).epoch(
        1, metrics={"loss": float("nan"), "grad": float("inf"), "acc": torch.tensor(0.25)}
    )
    (event,) = receiver.wait_for(1)
    assert event["metrics"] == {"loss": "nan", "grad": "inf", "acc": 0.25}


def test_a_wrong_secret_is_rejected_by_the_intake_and_dropped_not_retried(
    receiver, make_reporter, caplog
):
    reporter = make_reporter(receiver, secret=new_secret())  # not the receiver's
    with caplog.at_level(logging.WARNING, logger="mlops_reporter"):
        reporter.started()
        assert reporter.flush(5)
    assert receiver.received == []
    assert receiver.attempts == 1
    assert reporter.stats.rejected == 1
    assert not reporter.spool_path.exists()
    assert "HTTP 401" in caplog.text


@pytest.mark.parametrize("status", [400, 404, 413])
def test_client_errors_are_dropped_with_a_warning(status, receiver, make_reporter, caplog):
    receiver.refusals = [status]
    reporter = make_reporter(receiver)
    with caplog.at_level(logging.WARNING, logger="mlops_reporter"):
        reporter.started()
        reporter.epoch(1)
        receiver.wait_for(1)
    assert [e["type"] for e in receiver.events()] == ["epoch"]
    assert receiver.attempts == 2
    assert f"HTTP {status}" in caplog.text


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_retryable_statuses_are_retried_until_accepted(status, receiver, make_reporter):
    receiver.refusals = [status, status]
    reporter = make_reporter(receiver)
    reporter.started()
    reporter.epoch(1)
    events = receiver.wait_for(2)
    assert [e["type"] for e in events] == ["started", "epoch"]
    assert receiver.attempts == 4
    assert reporter.stats.rejected == 0


def test_post_event_reports_a_refused_connection_as_retry(secret):
    # The function `mlops-agent emit` uses; a closed port is an outcome, not an exception.
    webhook = Webhook(secret)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    delivery = post_event(
        f"http://127.0.0.1:{port}/hooks/training", webhook, new_message_id(), json.dumps({})
    )
    assert delivery.outcome is Outcome.RETRY
    assert delivery.status is None
    assert "refused" in delivery.detail.lower()


def test_post_event_delivers_a_body_the_intake_accepts(receiver, secret):
    msg_id = new_message_id()
    body = json.dumps({"type": "started", "job": "emit-test"})
    delivery = post_event(receiver.url + "/hooks/training", Webhook(secret), msg_id, body)
    assert (delivery.outcome, delivery.status) == (Outcome.SENT, 202)
    assert receiver.received[0].headers["webhook-id"] == msg_id
    assert abs(int(receiver.received[0].headers["webhook-timestamp"]) - time.time()) < 5
